import "server-only";
import { deniedReason, type Role } from "../auth/permissions";
import type { BuildView, ChannelView } from "../client-types";
import { getDb, type Db, type Tx } from "../db";

// Why a Promote or Roll back button is greyed, worked out on the server from the same facts the
// start checks (role, gate, lock, downloadability), so the page says it before anyone clicks.

export interface DeploymentAvailability {
  /** Channel name → the active deployment holding one of its hosts. */
  busy: Map<string, number>;
  /** Channel name → versions that succeeded there. */
  succeeded: Map<string, Set<string>>;
}

export async function readAvailability(channels: readonly Pick<ChannelView, "name" | "hosts">[], db: Db | Tx = getDb()): Promise<DeploymentAvailability> {
  const [locks, done] = await Promise.all([
    db.hostLock.findMany({ select: { deploymentId: true, host: { select: { name: true } } } }),
    db.deployment.findMany({ where: { status: "succeeded" }, select: { version: true, channel: { select: { name: true } } }, distinct: ["channelId", "version"] }),
  ]);
  const heldBy = new Map(locks.map((l) => [l.host.name, l.deploymentId]));
  const busy = new Map<string, number>();
  for (const c of channels) {
    const holder = c.hosts.map((h) => heldBy.get(h)).find((id) => id !== undefined);
    if (holder !== undefined) busy.set(c.name, holder);
  }
  const succeeded = new Map<string, Set<string>>();
  for (const d of done) succeeded.set(d.channel.name, (succeeded.get(d.channel.name) ?? new Set()).add(d.version));
  return { busy, succeeded };
}

/** Why `role` cannot promote `build` to `channel` now, or null. An admin may pass a gate (the dialog says so). */
export function promoteBlockedReason(role: Role, channel: Pick<ChannelView, "name" | "requires" | "currentVersion">, build: Pick<BuildView, "version" | "inIndex">, a: DeploymentAvailability): string | null {
  const denied = deniedReason(role, "channels.promote");
  if (denied) return denied;
  const busy = a.busy.get(channel.name);
  if (busy !== undefined) return `Deployment ${busy} is running on ${channel.name}'s hosts.`;
  if (!build.inIndex) return `${build.version} has left the repository index; hosts cannot install it.`;
  if (channel.requires && !a.succeeded.get(channel.requires)?.has(build.version) && role !== "admin") {
    return `${channel.name} requires ${channel.requires}: promote this build to ${channel.requires} first.`;
  }
  return null;
}

/** Why `role` cannot roll `channel` back now, or null. */
export function rollbackBlockedReason(role: Role, channel: Pick<ChannelView, "name" | "previousVersion">, builds: readonly Pick<BuildView, "version" | "inIndex">[], a: DeploymentAvailability): string | null {
  const denied = deniedReason(role, "channels.rollback");
  if (denied) return denied;
  if (!channel.previousVersion) return `${channel.name} has no previous good version in its deployment history.`;
  const busy = a.busy.get(channel.name);
  if (busy !== undefined) return `Deployment ${busy} is running on ${channel.name}'s hosts.`;
  const build = builds.find((b) => b.version === channel.previousVersion);
  if (!build) return `${channel.previousVersion} is not a known build any more.`;
  if (!build.inIndex) return `${channel.previousVersion} has left the repository index; hosts cannot install it, so there is nothing to roll back to.`;
  return null;
}
