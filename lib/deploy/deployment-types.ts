// Deployments as the API and the pages send them to clients. Pure types.

export interface TargetCounts {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
  interrupted: number;
}

export interface DeploymentSummary {
  id: number;
  kind: string;
  channel: string;
  version: string;
  fromVersion: string | null;
  status: string;
  reason: string;
  actor: string;
  source: string;
  override: boolean;
  retryOf: number | null;
  salLine: string;
  error: string | null;
  cancelledBy: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Hosts per state. */
  counts: TargetCounts;
}

export interface DeploymentTargetView {
  host: string;
  batch: number;
  fromVersion: string | null;
  toVersion: string;
  status: string;
  exitCode: number | null;
  output: string;
  errorKind: string | null;
  error: string | null;
  reportedVersion: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A webhook message about the deployment and how its delivery went. */
export interface NotificationView {
  event: string;
  /** Without query or user info. */
  url: string;
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export interface DeploymentDetail extends DeploymentSummary {
  notifications: NotificationView[];
  batchSize: number;
  maxFailures: number;
  hosts: DeploymentTargetView[];
}

/** A deployment as GET /api/deployments/:id and the event stream send it. */
export interface DeploymentJson extends Omit<DeploymentDetail, "hosts"> {
  targets: DeploymentTargetView[];
}
