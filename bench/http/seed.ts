// Seeds the bench database through the app's own writers, in a process of its own (DATABASE_URL and
// SCAP_CHANNELS_CONFIG from the environment). Prints one JSON line.
//
//   hosts ROUNDS   inventory sync from the config, then ROUNDS probes through probeHosts with a fake
//                  transport (answers from a table, no sshd: 1,000 real hosts cannot run here)
//   audit N        N audit events: up to 2,000 through recordAudit, a few thousand per transaction;
//                  above that the older ones through a bulk writer of the same rows (see bulkAudit)
import Database from "better-sqlite3";
import { eventHash, type ChainedContent } from "../../lib/audit/chain";
import { AUDIT_PAYLOADS, recordAudit, SYSTEM_ACTOR, type Actor, type AuditAction, type AuditPayload } from "../../lib/audit/log";
import { verifyAuditChain } from "../../lib/audit/verify";
import { databaseFile } from "../../lib/database-url";
import { readConfigFile } from "../../lib/config";
import { getDb } from "../../lib/db";
import { syncInventory } from "../../lib/fleet/inventory";
import { probeHosts } from "../../lib/fleet/probe";
import type { FleetTransport } from "../../lib/fleet/ssh";

const VERSIONS = ["4.90.0-1", "4.91.0-1", "4.92.0-1"];

/** A fake transport: every host answers the version command from a table (its index picks the version), at once. */
function tableTransport(round: number): FleetTransport {
  return {
    async exec(host) {
      const i = Number(/(\d+)$/.exec(host.name)?.[1] ?? 0);
      const stdout = i % 97 === 0 ? "un \n" : `ii ${VERSIONS[(i + round) % VERSIONS.length]}\n`;
      return { host: host.name, exitCode: 0, signal: null, stdout, stderr: "", durationMs: 1, truncated: false };
    },
    async withHost() {
      throw new Error("the bench's fake transport only answers the version command");
    },
    async close() {},
  };
}

async function seedHosts(rounds: number) {
  const config = readConfigFile(process.env.SCAP_CHANNELS_CONFIG!);
  const t0 = performance.now();
  await syncInventory(config);
  for (let r = 0; r < rounds; r++) await probeHosts(config, SYSTEM_ACTOR, { transport: tableTransport(r) });
  return { hosts: config.hosts.length, ms: performance.now() - t0 };
}

const ACTORS = ["alice", "bob", "carol", "ci-bot"];
const BATCH = 2000;
/** Above this many events, all but the last RECORDED go in through the bulk writer below. */
const RECORDED = 2000;

type Event = { [A in AuditAction]: { action: A; actor: Actor; target: string | null; payload: AuditPayload<A> } }[AuditAction];

function eventFor(i: number): Event {
  const actor: Actor = { id: null, name: ACTORS[i % ACTORS.length]!, source: "api", role: "admin", ip: "127.0.0.1", userAgent: "bench" };
  const channel = i % 2 ? "canary" : "beta";
  const version = VERSIONS[i % VERSIONS.length]!;
  const kind = i % 10;
  if (kind < 4) return { actor, action: "hosts.refresh", target: null, payload: { hosts: 5, ok: 5, notInstalled: 0, unreachable: 0, unknown: 0, changed: [], durationMs: 800 } };
  if (kind < 6) return { actor, action: "builds.refresh", target: "repo", payload: { ok: true, added: [version] } };
  if (kind < 8) return { actor, action: "channel.follow", target: channel, payload: { channel, paused: kind === 6 } };
  if (kind === 8) return { actor, action: "channel.freeze", target: channel, payload: { channel, reason: "weekly train", until: null } };
  return { actor, action: "channel.unfreeze", target: channel, payload: { channel, frozenBy: actor.name, reason: "weekly train" } };
}

/**
 * The rows recordAudit would write (payload parsed by its schema, chained by its eventHash), dated
 * over the past year, in one SQLite transaction: recordAudit costs ~1–3 ms an event here, which
 * would make 500,000 events most of the bench's time budget. The events after them go through
 * recordAudit, which continues this chain, and verifyAuditChain checks the whole of it.
 */
function bulkAudit(n: number): void {
  const raw = new Database(databaseFile());
  const insert = raw.prepare(
    `INSERT INTO "AuditEvent" ("seq", "at", "actorId", "actorName", "source", "action", "target", "channel", "version", "payload", "ip", "userAgent", "prevHash", "hash") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const end = Date.now() - 60_000;
  const step = Math.floor((365 * 86_400_000) / n);
  raw.transaction(() => {
    const head = raw.prepare(`SELECT "seq", "hash" FROM "AuditHead" WHERE "id" = 1`).get() as { seq: number; hash: string | null };
    let prev = head.hash;
    let seq = head.seq;
    for (let i = 0; i < n; i++) {
      const e = eventFor(i);
      const parsed: Record<string, unknown> = AUDIT_PAYLOADS[e.action].parse(e.payload);
      const content: ChainedContent = {
        seq: ++seq,
        at: new Date(end - (n - i) * step),
        actorId: e.actor.id,
        actorName: e.actor.name,
        source: e.actor.source,
        action: e.action,
        target: e.target,
        channel: typeof parsed.channel === "string" ? parsed.channel : null,
        version: typeof parsed.version === "string" ? parsed.version : null,
        payload: JSON.stringify(parsed),
        ip: e.actor.ip ?? null,
        userAgent: e.actor.userAgent ?? null,
      };
      const hash = eventHash(content, prev);
      insert.run(content.seq, content.at.toISOString().replace("Z", "+00:00"), content.actorId, content.actorName, content.source, content.action, content.target, content.channel, content.version, content.payload, content.ip, content.userAgent, prev, hash);
      prev = hash;
    }
    raw.prepare(`UPDATE "AuditHead" SET "seq" = ?, "hash" = ? WHERE "id" = 1`).run(seq, prev);
  })();
  raw.exec("ANALYZE");
  raw.close();
}

async function seedAudit(n: number) {
  const db = getDb();
  const t0 = performance.now();
  const bulk = n > RECORDED ? n - RECORDED : 0;
  if (bulk) bulkAudit(bulk);
  const bulkMs = performance.now() - t0;
  const t1 = performance.now();
  for (let done = bulk; done < n; ) {
    const size = Math.min(BATCH, n - done);
    await db.$transaction(
      async (tx) => {
        for (let i = done; i < done + size; i++) {
          const e = eventFor(i);
          await recordAudit(tx, e.actor, e.action, e.target, e.payload as never);
        }
      },
      { timeout: 600_000 },
    );
    done += size;
  }
  const recordedMs = performance.now() - t1;
  let verified: boolean | null = null;
  if (bulk) verified = (await verifyAuditChain()).ok;
  const ms = performance.now() - t0;
  // A cursor near the oldest end, for the deepest page.
  const deep = await db.auditEvent.findFirst({ orderBy: { id: "asc" }, skip: Math.min(60, Math.max(0, n - 1)), select: { id: true } });
  return { events: n, ms, bulk, bulkMs, recorded: n - bulk, recordedMs, verified, deepCursor: deep?.id ?? null };
}

const [cmd, arg] = process.argv.slice(2);
const result = cmd === "hosts" ? await seedHosts(Number(arg ?? 1)) : cmd === "audit" ? await seedAudit(Number(arg)) : null;
if (!result) throw new Error("usage: seed.ts hosts ROUNDS | audit N");
console.log(JSON.stringify(result));
await getDb().$disconnect();
