import "server-only";
import { recordAudit, type Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { AppError } from "../errors";
import { salLine } from "./input";
import { busyHosts, planDeployment, type DeploymentKind, type DeploymentPlan } from "./plan";
import { LEASE_MS } from "./lease";

export interface StartRequest {
  kind: DeploymentKind;
  channel: string;
  version: string;
  reason: string;
  override?: boolean;
  /** A retry: only these hosts, and the deployment retried. */
  hosts?: string[];
  retryOf?: number;
}

export interface StartedDeployment {
  id: number;
  plan: DeploymentPlan;
  salLine: string;
}

/**
 * Checks everything that can be checked without touching a host (permission, version, build,
 * index, gate, the .deb itself), then in one transaction takes every host of the deployment in the
 * database (HostLock: one active deployment per host, whichever process asks), creates the
 * deployment and its targets and writes the audit event. Runs nothing: the caller starts the runner.
 */
export async function startDeployment(config: AppConfig, actor: Actor, req: StartRequest): Promise<StartedDeployment> {
  authorize(actor, req.kind === "rollback" ? "channels.rollback" : "channels.promote", req.channel);
  const plan = await planDeployment(config, req.channel, req.version, { kind: req.kind, hosts: req.hosts });
  // Only an admin may go past a gate or a freeze.
  const overridden = req.override === true && plan.refusals.some((r) => OVERRIDABLE.has(r.code));
  if (overridden) authorize(actor, "admin", req.channel);
  refuse(plan, req.override === true);

  const line = salLine(actor, req.kind, config.repository.package, req.version, req.channel, req.reason);
  const db = getDb();
  const targets = [...plan.change, ...plan.unreachable, ...plan.already].sort((a, b) => a.batch - b.batch);
  try {
    const id = await db.$transaction(async (tx) => {
      const channel = await tx.channel.findUniqueOrThrow({ where: { name: req.channel }, select: { id: true } });
      const hosts = await tx.host.findMany({ where: { name: { in: targets.map((t) => t.host) } }, select: { id: true, name: true } });
      const hostId = new Map(hosts.map((h) => [h.name, h.id]));
      // Read again inside the transaction: the plan's view may be a few milliseconds old.
      const busy = await busyHosts(tx, hosts.map((h) => h.id));
      if (busy.length > 0) throw busyError(busy);
      const deployment = await tx.deployment.create({
        data: {
          kind: req.kind,
          channelId: channel.id,
          version: req.version,
          fromVersion: plan.fromVersion,
          status: "queued",
          reason: req.reason,
          actorId: actor.id,
          actorName: actor.name,
          source: actor.source,
          batchSize: plan.batchSize,
          maxFailures: plan.maxFailures,
          salLine: line,
          override: overridden,
          retryOfId: req.retryOf ?? null,
          // The creating process runs it; until it says otherwise, its lease holds.
          leaseUntil: new Date(Date.now() + LEASE_MS),
        },
      });
      await tx.deploymentTarget.createMany({
        data: targets.map((t) => ({ deploymentId: deployment.id, hostId: hostId.get(t.host)!, batch: t.batch, fromVersion: t.from, toVersion: req.version })),
      });
      // The primary key on hostId is the lock: a concurrent start in another process fails here.
      await tx.hostLock.createMany({ data: hosts.map((h) => ({ hostId: h.id, deploymentId: deployment.id })) });
      await recordAudit(tx, actor, "deployment.start", req.channel, {
        deploymentId: deployment.id,
        kind: req.kind,
        channel: req.channel,
        version: req.version,
        fromVersion: plan.fromVersion,
        hosts: targets.map((t) => t.host),
        batches: plan.batches.length,
        batchSize: plan.batchSize,
        maxFailures: plan.maxFailures,
        reason: req.reason,
        override: overridden,
        retryOf: req.retryOf ?? null,
        salLine: line,
      });
      return deployment.id;
    });
    return { id, plan, salLine: line };
  } catch (e) {
    if (e instanceof AppError) throw e;
    if (isUniqueViolation(e)) {
      const busy = await busyHosts(db, (await db.host.findMany({ where: { name: { in: targets.map((t) => t.host) } }, select: { id: true } })).map((h) => h.id));
      throw busyError(busy);
    }
    throw e;
  }
}

/** What an admin's override lifts: the gate and a freeze, nothing else (a busy host, a bad .deb). */
const OVERRIDABLE = new Set(["gate", "frozen"]);

/** Turns a plan's refusals into the 409 a person reads. */
function refuse(plan: DeploymentPlan, override: boolean): void {
  const blocking = plan.refusals.filter((r) => !(override && OVERRIDABLE.has(r.code)));
  if (blocking.length === 0) return;
  const first = blocking[0]!;
  if (first.code === "no-hosts") throw new AppError("CONFLICT", first.message, { refusal: first.code });
  throw new AppError("CONFLICT", blocking.map((r) => r.message).join(" "), { refusal: first.code, refusals: blocking });
}

function busyError(busy: { deploymentId: number; hosts: string[] }[]): AppError {
  const text = busy.map((b) => `deployment ${b.deploymentId} holds ${b.hosts.join(", ")}`).join("; ");
  return new AppError("CONFLICT", `Busy: ${text || "another deployment took these hosts a moment ago"}. Wait for it to end or cancel it.`, {
    refusal: "busy",
    deployments: busy.map((b) => b.deploymentId),
  });
}

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  const message = e instanceof Error ? e.message : "";
  // A second process's start that found SQLite's writer taken is the same race lost.
  return code === "P2002" || code === "P2034" || /UNIQUE constraint failed|SQLITE_CONSTRAINT|SQLITE_BUSY|database is locked/i.test(message);
}
