import "server-only";
import { recordAudit, SYSTEM_ACTOR } from "../audit/log";
import type { AppConfig, ChannelConfig } from "../config-schema";
import { getDb, type Tx } from "../db";
import { createFleetTransport, SshError, type FleetTransport } from "../fleet/ssh";
import { renderCommand } from "../shell";
import { rollbackChannel } from "./rollback";
import type { BakeHostResultView, ChannelPolicyView } from "./policy-types";
import { withRemoteTimeout } from "./remote";

// A build bakes on a channel after a successful promotion: it must run there `bake.minutes` with
// every periodic health check passing on every host before the channels that require this one may
// take it. A failed check ends the bake, marks the build failed there and, with
// `onBakeFailure: rollback`, rolls the channel back by itself.

type BakeHostResult = BakeHostResultView;
type BakeView = NonNullable<ChannelPolicyView["bake"]>;

const CHECK_TIMEOUT_S = 120;

/** Called in the runner's final transaction: a successful deployment ends any bake on the channel; a promotion starts a new one when the channel bakes. */
export async function recordBakeStart(tx: Tx, channel: ChannelConfig | undefined, d: { id: number; channelId: number; kind: string; version: string }): Promise<void> {
  await tx.bake.updateMany({ where: { channelId: d.channelId, status: "baking" }, data: { status: "superseded", finishedAt: new Date() } });
  if (!channel?.bake || d.kind !== "promote") return;
  const now = Date.now();
  await tx.bake.create({
    data: {
      channelId: d.channelId,
      version: d.version,
      deploymentId: d.id,
      endsAt: new Date(now + channel.bake.minutes * 60_000),
      // The first check right away: a build that breaks at once should not wait a full interval.
      nextCheckAt: new Date(now),
    },
  });
}

/** The newest bake of each channel, by channel name. */
export async function latestBakes(): Promise<Map<string, BakeView>> {
  const rows = await getDb().bake.findMany({ orderBy: { id: "desc" }, take: 200, include: { channel: { select: { name: true } } } });
  const out = new Map<string, BakeView>();
  for (const b of rows) {
    if (out.has(b.channel.name)) continue;
    out.set(b.channel.name, {
      version: b.version,
      deploymentId: b.deploymentId,
      status: b.status as BakeView["status"],
      startedAt: b.startedAt.toISOString(),
      endsAt: b.endsAt.toISOString(),
      checks: b.checks,
      lastCheckAt: b.lastCheckAt?.toISOString() ?? null,
      lastResults: parseResults(b.lastResults),
      error: b.error,
    });
  }
  return out;
}

function parseResults(json: string): BakeHostResult[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? (v as BakeHostResult[]) : [];
  } catch {
    return [];
  }
}

/**
 * Runs the due health-check rounds of baking builds and ends bakes whose time is up. A round is
 * claimed in the database first, so with several processes only one runs it. Returns what ended.
 */
export async function tickBakes(config: AppConfig, opts: { transport?: FleetTransport; now?: Date } = {}): Promise<{ passed: number[]; failed: number[] }> {
  const db = getDb();
  const now = opts.now ?? new Date();
  const due = await db.bake.findMany({ where: { status: "baking", nextCheckAt: { lte: now } }, include: { channel: { select: { name: true } } }, orderBy: { id: "asc" } });
  const ended = { passed: [] as number[], failed: [] as number[] };
  for (const bake of due) {
    const channel = config.channels.find((c) => c.name === bake.channel.name);
    const every = (channel?.bake?.everySeconds ?? 60) * 1000;
    const claim = await db.bake.updateMany({ where: { id: bake.id, status: "baking", nextCheckAt: bake.nextCheckAt }, data: { nextCheckAt: new Date(now.getTime() + every) } });
    if (claim.count === 0) continue;
    const template = channel?.bake?.healthCheck ?? config.commands.healthCheck;
    let results: BakeHostResult[] = [];
    if (channel && template) {
      const command = withRemoteTimeout(renderCommand(template, { package: config.repository.package, version: bake.version }), CHECK_TIMEOUT_S);
      const members = (await db.channelHost.findMany({ where: { channelId: bake.channelId }, select: { host: { select: { name: true } } } })).map((m) => m.host.name);
      const hosts = config.hosts.filter((h) => members.includes(h.name));
      const transport = opts.transport ?? createFleetTransport(config.ssh);
      try {
        results = await Promise.all(
          hosts.map(async (h): Promise<BakeHostResult> => {
            try {
              const r = await transport.exec(h, command, { timeoutMs: (CHECK_TIMEOUT_S + 20) * 1000, holder: `the bake of ${bake.version}`, waitMs: 5_000 });
              const tail = (r.stderr || r.stdout).trim().split("\n").at(-1)?.slice(0, 300) ?? "";
              return { host: h.name, ok: r.exitCode === 0, exitCode: r.exitCode, error: r.exitCode === 0 ? null : `exit status ${r.exitCode}${tail ? `: ${tail}` : ""}` };
            } catch (e) {
              // A host busy with another deployment is checked in the next round, not failed.
              if (e instanceof SshError && e.kind === "busy") return { host: h.name, ok: true, exitCode: null, error: "busy; checked next round" };
              return { host: h.name, ok: false, exitCode: null, error: e instanceof SshError ? e.message : "the check could not run" };
            }
          }),
        );
      } finally {
        if (!opts.transport) void transport.close();
      }
    }
    const bad = results.filter((r) => !r.ok);
    const checkedAt = new Date();
    if (bad.length > 0) {
      const error = `health check failed on ${bad.map((r) => `${r.host} (${r.error})`).join(", ")}`;
      const rollback = channel?.onBakeFailure === "rollback";
      const marked = await db.$transaction(async (tx) => {
        const r = await tx.bake.updateMany({
          where: { id: bake.id, status: "baking" },
          data: { status: "failed", error, lastCheckAt: checkedAt, checks: { increment: 1 }, lastResults: JSON.stringify(results), finishedAt: checkedAt },
        });
        if (r.count === 0) return false;
        await recordAudit(tx, SYSTEM_ACTOR, "bake.failed", bake.channel.name, { channel: bake.channel.name, version: bake.version, deploymentId: bake.deploymentId, error, hosts: results, rollback });
        return true;
      });
      if (!marked) continue;
      ended.failed.push(bake.id);
      if (rollback) {
        await rollbackChannel(config, SYSTEM_ACTOR, bake.channel.name, { reason: `bake of ${bake.version} failed: ${error}`.slice(0, 500) }).catch((e: unknown) =>
          console.error(`deploy: rolling ${bake.channel.name} back after its failed bake did not start`, e),
        );
      }
      continue;
    }
    const done = checkedAt >= bake.endsAt;
    await db.$transaction(async (tx) => {
      const r = await tx.bake.updateMany({
        where: { id: bake.id, status: "baking" },
        data: { lastCheckAt: checkedAt, checks: { increment: template ? 1 : 0 }, lastResults: JSON.stringify(results), ...(done ? { status: "passed", finishedAt: checkedAt } : {}) },
      });
      if (r.count === 1 && done) {
        await recordAudit(tx, SYSTEM_ACTOR, "bake.passed", bake.channel.name, {
          channel: bake.channel.name,
          version: bake.version,
          deploymentId: bake.deploymentId,
          checks: bake.checks + (template ? 1 : 0),
          minutes: channel?.bake?.minutes ?? 0,
        });
        ended.passed.push(bake.id);
      }
    });
    // Not done yet: the next round comes at the next interval, or at the end of the bake if sooner.
    if (!done) await db.bake.updateMany({ where: { id: bake.id, status: "baking", nextCheckAt: { gt: bake.endsAt } }, data: { nextCheckAt: bake.endsAt } });
  }
  return ended;
}
