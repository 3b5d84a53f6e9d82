import "server-only";
import { listBuilds } from "../apt/queries";
import { compareVersions } from "../apt/version";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { latestBakes } from "./bake";
import type { ChannelState } from "./channels";
import { failedVersions, provenVersions } from "./eligibility";
import { activeFreeze } from "./freeze";
import type { ChannelPolicyView } from "./policy-types";

/** Each channel's policies and where builds stand on it: following, freeze, bake, the next eligible build. */
export async function channelPolicies(config: AppConfig, channels: readonly Pick<ChannelState, "name" | "requires" | "currentVersion">[]): Promise<Map<string, ChannelPolicyView>> {
  const db = getDb();
  const [rows, bakes, builds] = await Promise.all([
    db.channel.findMany({ where: { inConfig: true }, select: { name: true, followPausedAt: true, followPausedBy: true, frozenAt: true, frozenBy: true, freezeReason: true, frozenUntil: true } }),
    latestBakes(),
    listBuilds(config.repository.package),
  ]);
  const inIndex = builds.filter((b) => b.inIndex);
  const out = new Map<string, ChannelPolicyView>();
  for (const c of channels) {
    const cfg = config.channels.find((x) => x.name === c.name);
    const row = rows.find((r) => r.name === c.name);
    const [failed, proven] = await Promise.all([failedVersions(db, c.name), c.requires ? provenVersions(db, config, c.requires) : Promise.resolve(null)]);
    const next = inIndex.find((b) => !failed.has(b.version) && (proven === null || proven.has(b.version)) && (c.currentVersion === null || compareVersions(b.version, c.currentVersion) > 0));
    out.set(c.name, {
      follow: cfg?.follow === "newest",
      followPaused: row?.followPausedAt ? { by: row.followPausedBy ?? "someone", at: row.followPausedAt.toISOString() } : null,
      freeze: row ? activeFreeze(row) : null,
      bakeMinutes: cfg?.bake?.minutes ?? null,
      onBakeFailure: cfg?.onBakeFailure ?? "stay",
      bake: bakes.get(c.name) ?? null,
      nextEligible: next?.version ?? null,
    });
  }
  return out;
}
