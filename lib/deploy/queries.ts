import "server-only";
import { z } from "zod";
import { getDb, type Db, type Tx } from "../db";
import { displayUrl } from "../notify/url";
import type { DeploymentDetail, DeploymentJson, DeploymentSummary, TargetCounts } from "./deployment-types";

export type { DeploymentDetail, DeploymentJson, DeploymentSummary, TargetCounts };

export const DEPLOYMENT_STATUSES = ["queued", "running", "succeeded", "failed", "partial", "cancelled", "interrupted"] as const;

export const deploymentListSchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.coerce.number().int().positive().optional(),
  channel: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,39}$/)
    .optional(),
  status: z.enum(DEPLOYMENT_STATUSES).optional(),
});

const iso = (d: Date | null) => d?.toISOString() ?? null;

function countTargets(targets: { status: string }[]): TargetCounts {
  const c: TargetCounts = { total: targets.length, pending: 0, running: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, interrupted: 0 };
  for (const t of targets) if (t.status in c && t.status !== "total") c[t.status as Exclude<keyof TargetCounts, "total">]++;
  return c;
}

interface SummaryRow {
  id: number;
  kind: string;
  version: string;
  fromVersion: string | null;
  status: string;
  reason: string;
  actorName: string;
  source: string;
  override: boolean;
  retryOfId: number | null;
  salLine: string;
  error: string | null;
  cancelledBy: string | null;
  cancelRequestedAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  channel: { name: string };
  targets: { status: string }[];
}

function toSummary(d: SummaryRow): DeploymentSummary {
  return {
    id: d.id,
    kind: d.kind,
    channel: d.channel.name,
    version: d.version,
    fromVersion: d.fromVersion,
    status: d.status,
    reason: d.reason,
    actor: d.actorName,
    source: d.source,
    override: d.override,
    retryOf: d.retryOfId,
    salLine: d.salLine,
    error: d.error,
    cancelledBy: d.cancelledBy,
    cancelRequested: d.cancelRequestedAt !== null,
    createdAt: d.createdAt.toISOString(),
    startedAt: iso(d.startedAt),
    finishedAt: iso(d.finishedAt),
    counts: countTargets(d.targets),
  };
}

/** Newest first; `cursor` is the id of the last deployment of the previous page. */
export async function listDeployments(q: z.infer<typeof deploymentListSchema>, db: Db | Tx = getDb()): Promise<{ deployments: DeploymentSummary[]; nextCursor: number | null }> {
  const rows = await db.deployment.findMany({
    where: {
      ...(q.cursor ? { id: { lt: q.cursor } } : {}),
      ...(q.channel ? { channel: { name: q.channel } } : {}),
      ...(q.status ? { status: q.status } : {}),
    },
    orderBy: { id: "desc" },
    take: q.limit + 1,
    include: { channel: { select: { name: true } }, targets: { select: { status: true } } },
  });
  const page = rows.slice(0, q.limit);
  return { deployments: page.map(toSummary), nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

/** One deployment with every host's record, or null. */
export async function getDeployment(id: number, db: Db | Tx = getDb()): Promise<DeploymentDetail | null> {
  const d = await db.deployment.findUnique({
    where: { id },
    include: {
      channel: { select: { name: true } },
      targets: { include: { host: { select: { name: true } } }, orderBy: [{ batch: "asc" }, { id: "asc" }] },
      webhooks: { orderBy: { id: "asc" } },
    },
  });
  if (!d) return null;
  return {
    ...toSummary(d),
    notifications: d.webhooks.map((w) => ({
      event: w.event,
      url: displayUrl(w.url),
      status: w.status,
      attempts: w.attempts,
      lastStatus: w.lastStatus,
      lastError: w.lastError,
      createdAt: w.createdAt.toISOString(),
      deliveredAt: iso(w.deliveredAt),
    })),
    batchSize: d.batchSize,
    maxFailures: d.maxFailures,
    hosts: d.targets.map((t) => ({
      host: t.host.name,
      batch: t.batch,
      fromVersion: t.fromVersion,
      toVersion: t.toVersion,
      status: t.status,
      exitCode: t.exitCode,
      output: t.output,
      errorKind: t.errorKind,
      error: t.error,
      reportedVersion: t.reportedVersion,
      startedAt: iso(t.startedAt),
      finishedAt: iso(t.finishedAt),
    })),
  };
}

/** The API shape of one deployment (`targets` is the per-host list there, as DESIGN.md names it). */
export function deploymentJson(d: DeploymentDetail): DeploymentJson {
  const { hosts, ...rest } = d;
  return { ...rest, targets: hosts };
}

/** The newest deployment that retries this one, if any. */
export async function latestRetryOf(id: number, db: Db | Tx = getDb()): Promise<number | null> {
  return (await db.deployment.findFirst({ where: { retryOfId: id }, orderBy: { id: "desc" }, select: { id: true } }))?.id ?? null;
}
