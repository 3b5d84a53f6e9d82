import "server-only";
import { recordAudit, SYSTEM_ACTOR } from "../audit/log";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { probeHosts } from "../fleet/probe";
import { notifyDeployment } from "../notify/webhooks";
import { isRunningHere } from "./run";

export interface RecoveredDeployment {
  id: number;
  /** Hosts that were installing when the runner stopped, with what the re-probe found. */
  running: { host: string; reportedVersion: string | null }[];
}

/**
 * Marks every queued or running deployment whose runner's lease has run out as `interrupted`:
 * hosts that were installing become `interrupted` and pending ones `skipped` (each target's record
 * kept), the hosts' locks are released and an audit event says so, all in one transaction per
 * deployment. Then the interrupted hosts are probed again and what they really run is recorded.
 */
export async function recoverDeployments(config: AppConfig | null, now = new Date()): Promise<RecoveredDeployment[]> {
  const db = getDb();
  const stale = await db.deployment.findMany({
    where: { status: { in: ["queued", "running"] }, OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] },
    select: { id: true },
    orderBy: { id: "asc" },
  });
  const recovered: RecoveredDeployment[] = [];
  for (const { id } of stale) {
    // A lapsed lease of a runner alive in this process is a slow database, not a dead runner.
    if (isRunningHere(id)) continue;
    const running = await db.$transaction(async (tx) => {
      // Conditional: a runner that renewed meanwhile keeps its deployment.
      const marked = await tx.deployment.updateMany({
        where: { id, status: { in: ["queued", "running"] }, OR: [{ leaseUntil: null }, { leaseUntil: { lt: now } }] },
        data: { status: "interrupted", finishedAt: new Date(), runnerId: null, leaseUntil: null, error: "the runner stopped (server restart or crash) before the deployment ended" },
      });
      if (marked.count === 0) return null;
      const d = await tx.deployment.findUniqueOrThrow({
        where: { id },
        select: { version: true, channel: { select: { name: true } }, targets: { select: { id: true, status: true, host: { select: { name: true } } } } },
      });
      const installing = d.targets.filter((t) => t.status === "running");
      await tx.deploymentTarget.updateMany({
        where: { deploymentId: id, status: "running" },
        data: { status: "interrupted", errorKind: "interrupted", error: "the runner stopped while this host was installing; see the version found afterwards", finishedAt: new Date() },
      });
      await tx.deploymentTarget.updateMany({
        where: { deploymentId: id, status: "pending" },
        data: { status: "skipped", error: "not started: the deployment was interrupted", finishedAt: new Date() },
      });
      await tx.hostLock.deleteMany({ where: { deploymentId: id } });
      await recordAudit(tx, SYSTEM_ACTOR, "deployment.interrupted", d.channel.name, {
        deploymentId: id,
        channel: d.channel.name,
        version: d.version,
        running: installing.map((t) => t.host.name),
      });
      return installing.map((t) => ({ targetId: t.id, host: t.host.name }));
    });
    if (running === null) continue;
    recovered.push({ id, running: await reprobe(config, running) });
    if (config) void notifyDeployment(config, id, "deployment.finish");
  }
  return recovered;
}

async function reprobe(config: AppConfig | null, running: { targetId: number; host: string }[]): Promise<RecoveredDeployment["running"]> {
  const known = config ? running.filter((r) => config.hosts.some((h) => h.name === r.host)) : [];
  if (!config || known.length === 0) return running.map((r) => ({ host: r.host, reportedVersion: null }));
  try {
    const result = await probeHosts(config, SYSTEM_ACTOR, { hosts: known.map((r) => r.host) });
    const byHost = new Map(result.hosts.map((h) => [h.host, h]));
    const db = getDb();
    for (const r of known) {
      const h = byHost.get(r.host);
      if (h && (h.status === "ok" || h.status === "not-installed")) {
        await db.deploymentTarget.update({ where: { id: r.targetId }, data: { reportedVersion: h.version } });
      }
    }
    return running.map((r) => ({ host: r.host, reportedVersion: byHost.get(r.host)?.version ?? null }));
  } catch (e) {
    console.error("deploy: probing the hosts of an interrupted deployment failed", e);
    return running.map((r) => ({ host: r.host, reportedVersion: null }));
  }
}

const timerSlot = globalThis as unknown as { scapRecoveryTimer?: { stop(): void } };

/** Looks for deployments whose runner died, now and every `everyMs`; never overlaps, never keeps the process alive. */
export function startRecoveryTimer(getConfig: () => AppConfig | null, everyMs = 5_000): () => void {
  timerSlot.scapRecoveryTimer?.stop();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      const done = await recoverDeployments(getConfig());
      for (const d of done) console.warn(`deploy: deployment ${d.id} was interrupted (its runner stopped); hosts that were installing: ${d.running.map((r) => `${r.host} → ${r.reportedVersion ?? "unknown"}`).join(", ") || "none"}`);
    } catch (e) {
      console.error("deploy: looking for interrupted deployments failed", e);
    } finally {
      if (!stopped) {
        timer = setTimeout(() => void tick(), everyMs);
        timer.unref();
      }
    }
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  timerSlot.scapRecoveryTimer = { stop };
  void tick();
  return stop;
}
