import "server-only";
import { getDb } from "../db";

export interface TimelineDay {
  /** YYYY-MM-DD (UTC). */
  day: string;
  succeeded: number;
  /** Promotions that ended failed, partial, interrupted or cancelled. */
  failed: number;
  /** Rollbacks, however they ended. */
  rolledBack: number;
}

const DAY_MS = 86_400_000;
const dayOf = (d: Date) => d.toISOString().slice(0, 10);

/**
 * Deployments per day (UTC) from `from` to `to`, every day listed, for the audit page's chart.
 * Deployments still queued or running are left out until they end.
 */
export async function deploymentTimeline(opts: { from: Date; to: Date; channel?: string }): Promise<TimelineDay[]> {
  const start = new Date(`${dayOf(opts.from)}T00:00:00Z`);
  const rows = await getDb().deployment.findMany({
    where: { createdAt: { gte: start, lte: opts.to }, ...(opts.channel ? { channel: { name: opts.channel } } : {}) },
    select: { kind: true, status: true, createdAt: true },
  });
  const days = new Map<string, TimelineDay>();
  for (let t = start.getTime(); t <= opts.to.getTime(); t += DAY_MS) {
    const day = dayOf(new Date(t));
    days.set(day, { day, succeeded: 0, failed: 0, rolledBack: 0 });
  }
  for (const d of rows) {
    const slot = days.get(dayOf(d.createdAt));
    if (!slot || d.status === "queued" || d.status === "running") continue;
    if (d.kind === "rollback") slot.rolledBack++;
    else if (d.status === "succeeded") slot.succeeded++;
    else slot.failed++;
  }
  return [...days.values()];
}
