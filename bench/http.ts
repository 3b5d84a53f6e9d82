// Rows 4–7 of the benchmark issue, through the built app (next start) over loopback HTTP:
//   4  /hosts and GET /api/hosts with many hosts against the same routes with 10 hosts
//   5  /audit and GET /api/audit?limit=50 (first, filtered, deep cursor page) with many events
//      against the same with 1,000
//   6  live viewers (the deployment's event stream and /hosts) during a promotion on a real
//      sandbox, against the same promotion unwatched
//   7  server memory after 4–5, and during an export of every audit event
// Data is seeded through the app's own writers (bench/http/seed.ts). Every server and sandbox
// started here is stopped, also on error.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { median, type Figure, type Sample } from "./lib/figures";
import { copyDatabase, ensureBuild, rssMB, seed, startApp, type RunningApp } from "./http/app";
import { load } from "./http/load";
import { promotionFigures } from "./http/promotion";
import { FULL, loadNote, PORTS, QUICK, tail, template, waitForProbe, fakeFleetConfig, type Sizes, type Template } from "./http/setup";

const MAX_REQUESTS = 20_000;

const ms = (values: number[]): Sample => ({ values, unit: "ms" });

interface AuditSeed {
  ms: number;
  bulk: number;
  bulkMs: number;
  recorded: number;
  recordedMs: number;
  verified: boolean | null;
  deepCursor: number;
}

const auditHow = (a: AuditSeed) =>
  (a.bulk ? `${a.bulk} by the bulk writer of recordAudit's rows in ${(a.bulkMs / 1000).toFixed(1)} s, then ` : "") +
  `${a.recorded} through recordAudit in ${(a.recordedMs / 1000).toFixed(1)} s (${((a.recordedMs / a.recorded) * 1000).toFixed(0)} µs an event)` +
  (a.verified === null ? "" : `; verifyAuditChain ${a.verified ? "ok" : "FAILED"}`);

interface Seeded {
  app: RunningApp;
  hostsMs: number;
  audit: AuditSeed;
}

/** A database with `hosts` hosts (two probes each) and `events` audit events, and the app on it. */
async function seededApp(cwd: string, dir: string, t: Template, port: number, hosts: number, events: number, log: (l: string) => void): Promise<Seeded> {
  const configPath = path.join(dir, `config-${port}.yaml`);
  const databaseUrl = copyDatabase(t.databaseUrl, `file:${path.join(dir, `bench-${port}.db`)}`);
  const token = t.token;
  fakeFleetConfig(configPath, hosts);
  const audit = JSON.parse(seed(cwd, databaseUrl, configPath, ["audit", String(events)])) as AuditSeed;
  log(`http: ${events} audit events in ${(audit.ms / 1000).toFixed(1)} s (${auditHow(audit)})`);
  const app = await startApp({ cwd, dir, databaseUrl, configPath, port, token });
  try {
    await waitForProbe(app);
    const h = JSON.parse(seed(cwd, databaseUrl, configPath, ["hosts", "2"])) as { ms: number };
    log(`http: ${hosts} hosts, inventory sync + 2 probes (fake transport) in ${(h.ms / 1000).toFixed(1)} s`);
    return { app, hostsMs: h.ms, audit };
  } catch (e) {
    log(`http: the server on port ${port} logged (tail):\n${tail(app.log)}`);
    await app.stop();
    throw e;
  }
}

interface Route {
  key: string;
  what: string;
  path: (s: Seeded) => string;
  page: boolean;
}

async function p95s(s: Seeded, route: Route, z: Sizes): Promise<{ values: number[]; errors: number; requests: number; unanswered: number }> {
  const headers: Record<string, string> = route.page ? { cookie: s.app.cookie } : { authorization: `Bearer ${s.app.token}` };
  const values: number[] = [];
  let errors = 0;
  let requests = 0;
  let unanswered = 0;
  // The first requests of a route compile and cache its code: not what a viewer of a running server waits for.
  for (let i = 0; i < 3; i++) await (await fetch(`${s.app.url}${route.path(s)}`, { headers })).arrayBuffer();
  for (let r = 0; r < z.rounds; r++) {
    const res = await load(`${s.app.url}${route.path(s)}`, headers, { connections: z.connections, seconds: z.seconds, maxRequests: MAX_REQUESTS });
    values.push(res.p95);
    errors += res.errors;
    requests += res.requests;
    if (res.unanswered) unanswered++;
  }
  return { values, errors, requests, unanswered };
}

async function compare(few: Seeded, many: Seeded, route: Route, z: Sizes, o: { goal: string; maxRatio: number; maxMs?: number; fewLabel: string; manyLabel: string }): Promise<Figure> {
  const a = await p95s(few, route, z);
  const b = await p95s(many, route, z);
  const ratio = median(b.values) / median(a.values);
  const met = ratio <= o.maxRatio && (o.maxMs === undefined || median(b.values) < o.maxMs) && a.errors + b.errors === 0 && a.unanswered + b.unanswered === 0;
  const unanswered = a.unanswered + b.unanswered ? `; ${b.unanswered} / ${a.unanswered} rounds with no answer within ${z.seconds} s (p95 reported as ${z.seconds * 1000} ms, a lower bound)` : "";
  return {
    id: `${route.key} ${o.manyLabel}`,
    what: `${route.what}, p95 with ${o.manyLabel} (${z.connections} connections, ${z.seconds} s per round)`,
    ours: ms(b.values),
    peer: { ...ms(a.values), name: `the same route with ${o.fewLabel}` },
    goal: o.goal,
    ratio,
    met,
    note: `${b.requests} / ${a.requests} requests, ${b.errors} / ${a.errors} errors or non-2xx${unanswered}; ${loadNote()}`,
  };
}

async function exportGrowth(app: RunningApp): Promise<{ growth: number; bytes: number; ms: number }> {
  const before = rssMB(app.pid);
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMB(app.pid));
  }, 100);
  const t0 = performance.now();
  let bytes = 0;
  try {
    const res = await fetch(`${app.url}/api/audit/export?format=csv`, { headers: { authorization: `Bearer ${app.token}` } });
    if (!res.ok || !res.body) throw new Error(`the audit export answered ${res.status}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, rssMB(app.pid));
  return { growth: peak - before, bytes, ms: performance.now() - t0 };
}

export async function httpFigures(opts: { quick: boolean; log: (line: string) => void }): Promise<Figure[]> {
  const z = opts.quick ? QUICK : FULL;
  const cwd = process.cwd();
  ensureBuild(cwd, opts.log);
  const dir = mkdtempSync(path.join(os.tmpdir(), "scap-bench-http-"));
  const apps: RunningApp[] = [];
  const figures: Figure[] = [];
  try {
    const t = template(cwd, dir);
    const few = await seededApp(cwd, dir, t, PORTS.few, z.fewHosts, z.fewEvents, opts.log);
    apps.push(few.app);
    const many = await seededApp(cwd, dir, t, PORTS.many, z.manyHosts, z.manyEvents, opts.log);
    apps.push(many.app);
    const hostLabel = (n: number) => `${n.toLocaleString("en-US")} hosts`;
    const eventLabel = (n: number) => `${n.toLocaleString("en-US")} events`;
    const hostRoutes: Route[] = [
      { key: "4 /hosts", what: "/hosts page (signed in)", path: () => "/hosts", page: true },
      { key: "4 GET /api/hosts", what: "GET /api/hosts (API token)", path: () => "/api/hosts", page: false },
    ];
    for (const route of hostRoutes) {
      const f = await compare(few, many, route, z, {
        goal: route.page ? "p95 < 150 ms; ≤ 2× the 10-host p95" : "≤ 2× the 10-host p95",
        maxRatio: 2,
        ...(route.page ? { maxMs: 150 } : {}),
        fewLabel: hostLabel(z.fewHosts),
        manyLabel: hostLabel(z.manyHosts),
      });
      f.note = `seeded ${z.manyHosts} hosts (inventory sync + 2 probes through probeHosts with a fake transport answering from a table) in ${(many.hostsMs / 1000).toFixed(1)} s; ${f.note}`;
      figures.push(f);
      opts.log(`http: ${f.id}: ${median(f.ours.values).toFixed(1)} ms vs ${median(f.peer!.values).toFixed(1)} ms`);
    }
    const auditRoutes: Route[] = [
      { key: "5 /audit", what: "/audit page (signed in)", path: () => "/audit", page: true },
      { key: "5 GET /api/audit first page", what: "GET /api/audit?limit=50", path: () => "/api/audit?limit=50", page: false },
      { key: "5 GET /api/audit filtered", what: "GET /api/audit?limit=50&actor=bob&action=channel.freeze", path: () => "/api/audit?limit=50&actor=bob&action=channel.freeze", page: false },
      { key: "5 GET /api/audit deep cursor", what: "GET /api/audit?limit=50&cursor=<the 61st oldest event>", path: (s) => `/api/audit?limit=50&cursor=${s.audit.deepCursor}`, page: false },
    ];
    for (const route of auditRoutes) {
      const f = await compare(few, many, route, z, { goal: "p95 ≤ 1.2× the p95 at 1,000 events", maxRatio: 1.2, fewLabel: eventLabel(z.fewEvents), manyLabel: eventLabel(z.manyEvents) });
      f.note = `seeded ${z.manyEvents} events in ${(many.audit.ms / 1000).toFixed(1)} s: ${auditHow(many.audit)}; ${f.note}`;
      figures.push(f);
      opts.log(`http: ${f.id}: ${median(f.ours.values).toFixed(1)} ms vs ${median(f.peer!.values).toFixed(1)} ms`);
    }
    const rssAfter = rssMB(many.app.pid);
    const exports: number[] = [];
    let exportNote = "";
    for (let r = 0; r < Math.min(3, z.rounds); r++) {
      const e = await exportGrowth(many.app);
      exports.push(e.growth);
      exportNote = `${(e.bytes / 1e6).toFixed(0)} MB of CSV in ${(e.ms / 1000).toFixed(1)} s`;
    }
    const promotion = await promotionFigures(cwd, dir, t, z, opts.log);
    figures.push(...promotion.figures);
    const rssEnd = rssMB(many.app.pid);
    figures.push(
      {
        id: "7 server RSS",
        what: `RSS of the server (process tree) with ${hostLabel(z.manyHosts)} and ${eventLabel(z.manyEvents)}, after rows 4–5 and the exports`,
        ours: { values: [rssEnd], unit: "MB" },
        peer: null,
        goal: "≤ 400 MB",
        ratio: null,
        met: rssEnd <= 400,
        note: `${rssAfter.toFixed(0)} MB after rows 4–5; row 6 ran on its own server against the sandbox, whose RSS after it was ${promotion.rss.toFixed(0)} MB; ${loadNote()}`,
      },
      {
        id: "7 audit export RSS growth",
        what: `peak RSS growth of the server while GET /api/audit/export?format=csv streams all ${eventLabel(z.manyEvents)}`,
        ours: { values: exports, unit: "MB" },
        peer: null,
        goal: "< 50 MB (streams)",
        ratio: null,
        met: median(exports) < 50,
        note: `${exportNote}; RSS sampled every 100 ms; ${loadNote()}`,
      },
    );
    return figures;
  } catch (e) {
    for (const app of apps) opts.log(`http: the server on port ${app.port} logged (tail):\n${tail(app.log)}`);
    throw e;
  } finally {
    for (const app of apps) await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
