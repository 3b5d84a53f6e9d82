import "server-only";
import { listBuilds } from "../apt/queries";
import { compareVersions } from "../apt/version";
import { recordAudit, SYSTEM_ACTOR, type Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { AppError } from "../errors";
import { getChannel } from "./channels";
import { failedVersions } from "./eligibility";
import { activeFreeze } from "./freeze";
import { busyHosts } from "./plan";
import { promoteBuild } from "./promote";

// A channel with `follow: newest` (typically canary) takes every new build by itself: the system
// promotes the newest build newer than its current version, through the same plan, lock and audit
// as a person's promotion. Never while it is paused, frozen or busy (it waits, then takes the
// newest, skipping builds superseded meanwhile), never a build that failed there before.

export interface FollowOutcome {
  channel: string;
  started: { id: number; version: string } | null;
  /** Why nothing started (null when something did or nothing was newer). */
  waiting: string | null;
}

/** One look at every following channel; starts at most one deployment per channel. */
export async function followNewest(config: AppConfig): Promise<FollowOutcome[]> {
  const db = getDb();
  const out: FollowOutcome[] = [];
  const builds = (await listBuilds(config.repository.package)).filter((b) => b.inIndex && (b.architecture === config.repository.architecture || b.architecture === "all"));
  for (const c of config.channels.filter((ch) => ch.follow === "newest")) {
    const row = await db.channel.findFirst({ where: { name: c.name, inConfig: true }, select: { id: true, followPausedAt: true, frozenAt: true, frozenBy: true, freezeReason: true, frozenUntil: true, hosts: { select: { hostId: true } } } });
    if (!row) continue;
    if (row.followPausedAt) {
      out.push({ channel: c.name, started: null, waiting: "following is paused" });
      continue;
    }
    if (activeFreeze(row)) {
      out.push({ channel: c.name, started: null, waiting: "the channel is frozen" });
      continue;
    }
    const state = await getChannel(c.name);
    const failed = await failedVersions(db, c.name);
    const current = state?.currentVersion ?? null;
    // Only the newest build: one that failed here waits for a newer one, never for an older build.
    const next = builds[0];
    if (!next || (current !== null && compareVersions(next.version, current) <= 0)) {
      out.push({ channel: c.name, started: null, waiting: null });
      continue;
    }
    if (failed.has(next.version)) {
      out.push({ channel: c.name, started: null, waiting: `${next.version} failed here; waiting for a newer build` });
      continue;
    }
    const busy = await busyHosts(db, row.hosts.map((h) => h.hostId));
    if (busy.length > 0) {
      out.push({ channel: c.name, started: null, waiting: `deployment ${busy[0]!.deploymentId} holds its hosts` });
      continue;
    }
    try {
      const started = await promoteBuild(config, SYSTEM_ACTOR, c.name, { version: next.version, reason: `new build ${next.version} published` });
      out.push({ channel: c.name, started: { id: started.id, version: next.version }, waiting: null });
    } catch (e) {
      // Another process took the hosts a moment ago, or the build does not verify: look again next time.
      if (!(e instanceof AppError)) throw e;
      out.push({ channel: c.name, started: null, waiting: e.message });
    }
  }
  return out;
}

/** Pauses or resumes a channel's following (admin). */
export async function setFollowPaused(actor: Actor, name: string, paused: boolean): Promise<void> {
  authorize(actor, "admin");
  await getDb().$transaction(async (tx) => {
    const c = await tx.channel.findFirst({ where: { name, inConfig: true }, select: { id: true } });
    if (!c) throw new AppError("NOT_FOUND", `No channel named ${name} is configured.`);
    await tx.channel.update({ where: { id: c.id }, data: paused ? { followPausedAt: new Date(), followPausedBy: actor.name } : { followPausedAt: null, followPausedBy: null } });
    await recordAudit(tx, actor, "channel.follow", name, { channel: name, paused });
  });
}
