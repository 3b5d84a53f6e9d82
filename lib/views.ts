// Shapes the pages and the JSON API send to clients. Pure types: safe for client components.

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

export type HostStatus = "ok" | "not-installed" | "unreachable" | "unknown";

export interface HostView {
  name: string;
  address: string;
  port: number;
  channels: string[];
  version: string | null;
  status: HostStatus;
  errorKind: string | null;
  error: string | null;
  observedAt: string | null;
  /** The host's channel expects another version. */
  drift: { channel: string; expected: string } | null;
  /** The host runs something other than what most hosts run. */
  offMajority: boolean;
}

export interface ChannelView {
  name: string;
  hosts: string[];
  requires: string | null;
  batchSize: number;
  maxFailures: number;
  currentVersion: string | null;
  currentSource: "deployment" | "observed" | null;
  previousVersion: string | null;
  drift: number;
  /** Hosts of the channel whose state is not known now (unreachable, unknown, never probed). */
  unverified: number;
}

export interface DistributionEntry {
  version: string | null;
  status: HostStatus;
  hosts: number;
}

export interface ProbeView {
  id: number | string;
  startedAt: string;
  finishedAt: string | null;
  total: number;
  done: number;
  running: boolean;
  error: string | null;
}
