import "server-only";
import { deniedReason, type Role } from "../auth/permissions";
import type { BuildView, ChannelView } from "../client-types";
import type { AppConfig } from "../config-schema";
import { getDb, type Db, type Tx } from "../db";
import { provenVersions } from "./eligibility";
import { frozenChannels, type Freeze } from "./freeze";

// Why a Promote or Roll back button is greyed, worked out on the server from the same facts the
// start checks (role, gate, lock, downloadability), so the page says it before anyone clicks.

export interface DeploymentAvailability {
  /** Channel name → the active deployment holding one of its hosts. */
  busy: Map<string, number>;
  /** Channel name → versions proven there (what the channels requiring it may take). */
  proven: Map<string, Set<string>>;
  /** Channel name → its freeze in force. */
  frozen: Map<string, Freeze>;
}

export async function readAvailability(config: AppConfig, channels: readonly Pick<ChannelView, "name" | "hosts">[], db: Db | Tx = getDb()): Promise<DeploymentAvailability> {
  const [locks, frozen, proven] = await Promise.all([
    db.hostLock.findMany({ select: { deploymentId: true, host: { select: { name: true } } } }),
    frozenChannels(db),
    Promise.all(channels.map(async (c) => [c.name, await provenVersions(db, config, c.name)] as const)),
  ]);
  const heldBy = new Map(locks.map((l) => [l.host.name, l.deploymentId]));
  const busy = new Map<string, number>();
  for (const c of channels) {
    const holder = c.hosts.map((h) => heldBy.get(h)).find((id) => id !== undefined);
    if (holder !== undefined) busy.set(c.name, holder);
  }
  return { busy, proven: new Map(proven), frozen };
}

/** Why `role` cannot promote `build` to `channel` now, or null. An admin may pass a gate (the dialog says so). */
export function promoteBlockedReason(role: Role, channel: Pick<ChannelView, "name" | "requires" | "currentVersion">, build: Pick<BuildView, "version" | "inIndex">, a: DeploymentAvailability): string | null {
  const denied = deniedReason(role, "channels.promote");
  if (denied) return denied;
  const busy = a.busy.get(channel.name);
  if (busy !== undefined) return `Deployment ${busy} is running on ${channel.name}'s hosts.`;
  if (!build.inIndex) return `${build.version} has left the repository index; hosts cannot install it.`;
  // An admin may override a gate or a freeze in the dialog; everyone else is told here.
  if (role === "admin") return null;
  const freeze = a.frozen.get(channel.name);
  if (freeze) return `${channel.name} is frozen by ${freeze.by}: ${freeze.reason}`;
  if (channel.requires && !a.proven.get(channel.requires)?.has(build.version)) {
    return `${channel.name} requires ${channel.requires}: this build has not been proven there yet (promoted, and baked where ${channel.requires} bakes).`;
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
  const freeze = a.frozen.get(channel.name);
  if (freeze && role !== "admin") return `${channel.name} is frozen by ${freeze.by}: ${freeze.reason}`;
  const build = builds.find((b) => b.version === channel.previousVersion);
  if (!build) return `${channel.previousVersion} is not a known build any more.`;
  if (!build.inIndex) return `${channel.previousVersion} has left the repository index; hosts cannot install it, so there is nothing to roll back to.`;
  return null;
}
