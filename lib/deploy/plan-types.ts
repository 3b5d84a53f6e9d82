// The shape of a deployment plan, as the API sends it and the confirmation dialog shows it. Pure types.
import type { HostStatus } from "../fleet/status";

export type DeploymentKind = "promote" | "rollback";

export interface PlanHost {
  host: string;
  /** The version the last probe saw (null: not installed or not known). */
  from: string | null;
  status: HostStatus;
  observedAt: string | null;
  error: string | null;
  batch: number;
}

export interface PlanRefusal {
  code: "gate" | "frozen" | "busy" | "not-downloadable" | "not-in-index" | "no-hosts" | "no-previous";
  message: string;
}

export interface DeploymentPlan {
  kind: DeploymentKind;
  channel: string;
  version: string;
  /** The channel's current version, which this deployment replaces. */
  fromVersion: string | null;
  /** What changed between the two builds' commits (repository.compareUrl), when both carry one. */
  changesUrl: string | null;
  /** The channel's freeze in force, if any. */
  freeze: { by: string; reason: string; since: string; until: string | null } | null;
  build: { version: string; sha256: string; size: number; inIndex: boolean; gitCommit: string | null };
  /** Hosts whose version will change, from which version. */
  change: PlanHost[];
  /** Hosts the last probe saw on the version already (checked again, not reinstalled). */
  already: PlanHost[];
  /** Hosts whose state is not known now: attempted all the same, and likely to count as failures. */
  unreachable: PlanHost[];
  /** Host names per batch, in the order they run. */
  batches: string[][];
  batchSize: number;
  maxFailures: number;
  gate: { requires: string | null; ok: boolean; message: string | null };
  /** Hosts of the channel held by a deployment now. */
  busy: { deploymentId: number; hosts: string[] }[];
  /** The .deb downloaded and checked against the verified index (null: not checked). */
  download: { ok: boolean; error: string | null } | null;
  warnings: string[];
  /** Why it cannot start now; empty when it can (an admin may override a gate or a freeze, nothing else). */
  refusals: PlanRefusal[];
}

