// Shapes the pages and the JSON API send to clients. Pure types (type-only imports of domain
// types are erased): safe for client components.
import type { ChannelState } from "./deploy/channels";
import type { HostRow, LastKnown } from "./deploy/fleet-view";
import type { HostStatus } from "./fleet/status";

export type { HostStatus };
export type { DistributionEntry } from "./fleet/distribution";

export interface RepositoryView {
  configured: boolean;
  /** The config accepts this repository without a signature. */
  unsigned: boolean;
  source: string | null;
  url: string | null;
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  signerKey: string | null;
  releaseDate: string | null;
  validUntil: string | null;
  lastErrorKind: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  buildCount: number;
}

export interface BuildView {
  version: string;
  architecture: string;
  filename: string;
  sha256: string;
  size: number;
  firstSeenAt: string;
  lastSeenAt: string;
  inIndex: boolean;
  /** Channels whose current version this is. */
  channels: string[];
  buildTime: string | null;
  gitCommit: string | null;
  upstream: string;
}

/** A host row: lib/deploy/fleet-view.ts's HostRow with its dates as ISO 8601. */
export interface HostView extends Omit<HostRow, "observedAt" | "lastKnown"> {
  observedAt: string | null;
  lastKnown: (Omit<LastKnown, "observedAt"> & { observedAt: string }) | null;
}

/** A channel as clients see it (without row ids). */
export type ChannelView = Omit<ChannelState, "id" | "currentSince">;

export interface ProbeView {
  id: number | string;
  startedAt: string;
  finishedAt: string | null;
  total: number;
  done: number;
  running: boolean;
  error: string | null;
  /** Hosts not probed because a deployment holds them (their last observation stands). */
  busy: { host: string; holder: string }[];
}
