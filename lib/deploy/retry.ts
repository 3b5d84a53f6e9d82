import "server-only";
import type { Actor } from "../audit/log";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { AppError } from "../errors";
import { launchDeployment } from "./run";
import { startDeployment, type StartedDeployment } from "./start";

const RETRYABLE_DEPLOYMENTS = ["failed", "partial", "cancelled", "interrupted"];
const RETRYABLE_TARGETS = ["failed", "skipped", "cancelled", "interrupted"];

/**
 * A new deployment of the same version to the hosts that failed, were skipped or cancelled, or were
 * interrupted in an ended deployment. Every check of a start applies again.
 */
export async function retryDeployment(config: AppConfig, actor: Actor, id: number, req: { reason?: string } = {}): Promise<StartedDeployment> {
  const d = await getDb().deployment.findUnique({
    where: { id },
    include: { channel: { select: { name: true } }, targets: { select: { status: true, host: { select: { name: true } } } } },
  });
  if (!d) throw new AppError("NOT_FOUND", `No deployment ${id}.`);
  if (!RETRYABLE_DEPLOYMENTS.includes(d.status)) {
    throw new AppError("CONFLICT", `Deployment ${id} is ${d.status}; only a failed, partial, cancelled or interrupted deployment can be retried.`);
  }
  const hosts = d.targets.filter((t) => RETRYABLE_TARGETS.includes(t.status)).map((t) => t.host.name);
  if (hosts.length === 0) throw new AppError("CONFLICT", `Deployment ${id} has no failed, skipped, cancelled or interrupted host to retry.`);
  const reason = req.reason ?? `retry of deployment ${id}: ${d.reason}`.slice(0, 500);
  const started = await startDeployment(config, actor, {
    kind: d.kind === "rollback" ? "rollback" : "promote",
    channel: d.channel.name,
    version: d.version,
    reason,
    hosts,
    retryOf: id,
    // Past the gate again only if it went past it before, and only for an admin.
    override: d.override,
  });
  void launchDeployment(config, started.id);
  return started;
}
