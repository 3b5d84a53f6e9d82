import "server-only";
import type { AppConfig } from "../config-schema";
import type { Db, Tx } from "../db";

// Which builds a channel has proven: what the channels that `require` it may take.

/**
 * Versions proven on a channel: with a bake configured there, those whose bake passed; without,
 * those a deployment put there successfully. A version whose bake failed there is never proven.
 */
export async function provenVersions(db: Db | Tx, config: AppConfig, channelName: string): Promise<Set<string>> {
  const channel = await db.channel.findUnique({ where: { name: channelName }, select: { id: true } });
  if (!channel) return new Set();
  const bakes = config.channels.find((c) => c.name === channelName)?.bake !== undefined;
  const failed = new Set((await db.bake.findMany({ where: { channelId: channel.id, status: "failed" }, select: { version: true } })).map((b) => b.version));
  const proven = bakes
    ? (await db.bake.findMany({ where: { channelId: channel.id, status: "passed" }, select: { version: true } })).map((b) => b.version)
    : (await db.deployment.findMany({ where: { channelId: channel.id, status: "succeeded" }, select: { version: true } })).map((d) => d.version);
  return new Set(proven.filter((v) => !failed.has(v)));
}

/** Versions that failed on a channel: a deployment of them there failed or was partial, or their bake failed. */
export async function failedVersions(db: Db | Tx, channelName: string): Promise<Set<string>> {
  const channel = await db.channel.findUnique({ where: { name: channelName }, select: { id: true } });
  if (!channel) return new Set();
  const [deployments, bakes] = await Promise.all([
    db.deployment.findMany({ where: { channelId: channel.id, kind: "promote", status: { in: ["failed", "partial"] } }, select: { version: true } }),
    db.bake.findMany({ where: { channelId: channel.id, status: "failed" }, select: { version: true } }),
  ]);
  return new Set([...deployments, ...bakes].map((r) => r.version));
}
