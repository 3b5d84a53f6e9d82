import "server-only";
import { z } from "zod";
import { getDb } from "../db";

export const deploymentListSchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.coerce.number().int().positive().optional(),
});

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
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  targets: { total: number; succeeded: number; failed: number };
}

/** Newest first; `cursor` is the id of the last deployment of the previous page. */
export async function listDeployments(q: z.infer<typeof deploymentListSchema>): Promise<{ deployments: DeploymentSummary[]; nextCursor: number | null }> {
  const rows = await getDb().deployment.findMany({
    where: q.cursor ? { id: { lt: q.cursor } } : {},
    orderBy: { id: "desc" },
    take: q.limit + 1,
    include: { channel: { select: { name: true } }, targets: { select: { status: true } } },
  });
  const page = rows.slice(0, q.limit);
  return {
    deployments: page.map((d) => ({
      id: d.id,
      kind: d.kind,
      channel: d.channel.name,
      version: d.version,
      fromVersion: d.fromVersion,
      status: d.status,
      reason: d.reason,
      actor: d.actorName,
      source: d.source,
      createdAt: d.createdAt.toISOString(),
      startedAt: d.startedAt?.toISOString() ?? null,
      finishedAt: d.finishedAt?.toISOString() ?? null,
      targets: {
        total: d.targets.length,
        succeeded: d.targets.filter((t) => t.status === "succeeded").length,
        failed: d.targets.filter((t) => t.status === "failed").length,
      },
    })),
    nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null,
  };
}
