import "server-only";
import { recordAudit, type Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import { getDb } from "../db";
import { AppError } from "../errors";
import { pokeRunner } from "./run";

/**
 * Asks a queued or running deployment to stop: the request is stored in the database, where its
 * runner (in whichever process) reads it; no new host starts, running hosts finish or time out,
 * the rest end cancelled.
 */
export async function cancelDeployment(actor: Actor, id: number): Promise<void> {
  await getDb().$transaction(async (tx) => {
    const d = await tx.deployment.findUnique({ where: { id }, select: { status: true, version: true, cancelRequestedAt: true, channel: { select: { name: true } } } });
    if (!d) throw new AppError("NOT_FOUND", `No deployment ${id}.`);
    authorize(actor, "deployments.cancel", d.channel.name);
    if (d.status !== "queued" && d.status !== "running") throw new AppError("CONFLICT", `Deployment ${id} has already ended (${d.status}); there is nothing to cancel.`);
    if (d.cancelRequestedAt) throw new AppError("CONFLICT", `Deployment ${id} is already being cancelled.`);
    await tx.deployment.update({ where: { id }, data: { cancelRequestedAt: new Date(), cancelledBy: actor.name } });
    await recordAudit(tx, actor, "deployment.cancel", d.channel.name, { deploymentId: id, channel: d.channel.name, version: d.version });
  });
  pokeRunner(id);
}
