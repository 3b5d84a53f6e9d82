// Seeds an audit log of N events (a valid hash chain) into DATABASE_URL, then times verify, list
// pages with each filter, the facets and a streamed export. Run with
// `DATABASE_URL=file:/tmp/audit-bench.db npx tsx --conditions=react-server lib/audit/testing/bench.ts 500000`
// on a freshly migrated database.
import Database from "better-sqlite3";
import { databaseFile } from "../../database-url";
import { eventHash, type ChainedContent } from "../chain";
import { auditFacets, auditQuerySchema, exportAuditEvents, listAuditEvents } from "../queries";
import { verifyAuditChain } from "../verify";
import { getDb } from "../../db";

const N = Number(process.argv[2] ?? 500_000);
const file = databaseFile();

function seed() {
  const raw = new Database(file);
  if ((raw.prepare(`SELECT COUNT(*) AS n FROM "AuditEvent"`).get() as { n: number }).n > 0) {
    raw.close();
    return false;
  }
  const insert = raw.prepare(
    `INSERT INTO "AuditEvent" ("seq", "at", "actorId", "actorName", "source", "action", "target", "channel", "version", "payload", "ip", "userAgent", "prevHash", "hash") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const actors = ["alice", "bob", "carol", "system", "ci-bot", "anonymous"];
  const start = Date.UTC(2026, 0, 1);
  const step = Math.floor((Date.UTC(2026, 11, 1) - start) / N);
  let prev: string | null = null;
  raw.transaction(() => {
    for (let i = 1; i <= N; i++) {
      const kind = i % 10;
      const version = `4.${80 + (i % 40)}.0-${1 + (i % 3)}`;
      const channel = i % 2 ? "canary" : "beta";
      let action: string, target: string | null, payload: unknown, ch: string | null = null, ver: string | null = null;
      if (kind < 4) [action, target, payload] = ["hosts.refresh", null, { hosts: 5, ok: 5, notInstalled: 0, unreachable: 0, unknown: 0, changed: [], durationMs: 800 }];
      else if (kind < 6) [action, target, payload] = ["builds.refresh", "repo", { ok: true, added: [version] }];
      else if (kind < 8) [action, target, payload] = ["user.signin", "alice", {}];
      else if (kind === 8) {
        [action, target, payload, ch, ver] = ["deployment.start", channel, { deploymentId: i, kind: "promote", channel, version, fromVersion: null, hosts: ["h1"], batches: 1, batchSize: 1, maxFailures: 0, reason: i === N / 2 ? "needle-in-the-haystack" : "weekly train", override: false, retryOf: null, salLine: "" }, channel, version];
      } else [action, target, payload, ch, ver] = ["deployment.finish", channel, { deploymentId: i - 1, channel, version, status: "succeeded", succeeded: 1, failed: 0, skipped: 0, cancelled: 0, durationMs: 30_000, notOnVersion: [] }, channel, version];
      const e: ChainedContent = {
        seq: i,
        at: new Date(start + i * step),
        actorId: null,
        actorName: actors[i % actors.length]!,
        source: "ui",
        action,
        target,
        channel: ch,
        version: ver,
        payload: JSON.stringify(payload),
        ip: "127.0.0.1",
        userAgent: "bench",
      };
      const hash = eventHash(e, prev);
      insert.run(e.seq, e.at.toISOString().replace("Z", "+00:00"), null, e.actorName, e.source, e.action, e.target, e.channel, e.version, e.payload, e.ip, e.userAgent, prev, hash);
      prev = hash;
    }
    raw.prepare(`UPDATE "AuditHead" SET "seq" = ?, "hash" = ? WHERE "id" = 1`).run(N, prev);
  })();
  raw.exec("ANALYZE");
  raw.close();
  return true;
}

async function time<T>(label: string, fn: () => Promise<T>, runs = 5): Promise<T> {
  let result!: T;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    result = await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`${label.padEnd(48)} median ${times[Math.floor(runs / 2)]!.toFixed(1)} ms  (min ${times[0]!.toFixed(1)}, max ${times[runs - 1]!.toFixed(1)})`);
  return result;
}

function plans() {
  const raw = new Database(file, { readonly: true });
  const at = "2026-06-01T00:00:00.000+00:00";
  const queries: Record<string, string> = {
    "page 1": `SELECT id FROM AuditEvent ORDER BY at DESC, id DESC LIMIT 51`,
    "deep page": `SELECT id FROM AuditEvent WHERE at <= '${at}' AND NOT (at = '${at}' AND id >= 250000) ORDER BY at DESC, id DESC LIMIT 51`,
    "actor + cursor": `SELECT id FROM AuditEvent WHERE actorName = 'bob' AND at <= '${at}' AND NOT (at = '${at}' AND id >= 250000) ORDER BY at DESC, id DESC LIMIT 51`,
    "channel + version": `SELECT id FROM AuditEvent WHERE channel = 'canary' AND version = '4.81.0-2' ORDER BY at DESC, id DESC LIMIT 51`,
    "export (asc)": `SELECT id FROM AuditEvent WHERE action = 'deployment.start' AND at >= '${at}' AND NOT (at = '${at}' AND id <= 250000) ORDER BY at ASC, id ASC LIMIT 1000`,
  };
  for (const [label, sql] of Object.entries(queries)) {
    const plan = raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[];
    console.log(`plan ${label}: ${plan.map((p) => p.detail).join(" | ")}`);
  }
  raw.close();
}

const seeded = (() => {
  const t = performance.now();
  const did = seed();
  if (did) console.log(`seeded ${N} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return did;
})();
void seeded;
plans();
const v = await time("verify (whole chain)", () => verifyAuditChain(), 3);
console.log(`verify: ok=${v.ok} events=${v.events} ${v.problem ?? ""}`);
const p1 = await time("page 1 (50, no filter)", () => listAuditEvents({ limit: 50 }));
const mid = (await getDb().auditEvent.findFirstOrThrow({ where: { seq: Math.floor(N / 2) } })).id;
const last = (await getDb().auditEvent.findFirstOrThrow({ where: { seq: 60 } })).id;
await time("page at the middle (cursor)", () => listAuditEvents({ limit: 50, cursor: mid }));
await time("last page (cursor near the oldest)", () => listAuditEvents({ limit: 50, cursor: last }));
await time("page 2 after page 1", () => listAuditEvents({ limit: 50, cursor: p1.nextCursor! }));
for (const [label, raw] of [
  ["actor=bob", { actor: "bob" }],
  ["action=deployment.start", { action: "deployment.start" }],
  ["channel=beta", { channel: "beta" }],
  ["version=4.81.0-2", { version: "4.81.0-2" }],
  ["channel+version+actor", { channel: "canary", version: "4.81.0-2", actor: "bob" }],
  ["from/to one week", { from: "2026-06-01", to: "2026-06-07" }],
  ["q=weekly (common)", { q: "weekly" }],
  ["q=needle (one match, scans all)", { q: "needle-in-the-haystack" }],
  ["actor=bob at the middle (cursor)", { actor: "bob", cursor: String(mid) }],
] as const) {
  await time(`page: ${label}`, () => listAuditEvents(auditQuerySchema.parse({ ...raw, limit: 50 })));
}
await time("facets (actions, actors, channels)", () => auditFacets());
const before = process.memoryUsage().rss;
let peak = before;
let bytes = 0;
const t = performance.now();
for await (const chunk of exportAuditEvents("csv", {})) {
  bytes += chunk.length;
  peak = Math.max(peak, process.memoryUsage().rss);
}
console.log(`export csv of all ${N}: ${((performance.now() - t) / 1000).toFixed(1)} s, ${(bytes / 1e6).toFixed(0)} MB, rss ${(before / 1e6).toFixed(0)} → peak ${(peak / 1e6).toFixed(0)} MB`);
await getDb().$disconnect();
