// Rows 4–7 of the benchmark issue, through the built app (next start) over loopback HTTP:
//   4  /hosts and GET /api/hosts with many hosts against the same routes with 10 hosts
//   5  /audit and GET /api/audit?limit=50 (first, filtered, deep cursor page) with many events
//      against the same with 1,000
//   6  live viewers (the deployment's event stream and /hosts) during a promotion on a real
//      sandbox, against the same promotion unwatched
//   7  server memory after 4–5, and during an export of every audit event
// Data is seeded through the app's own writers (bench/http/seed.ts). Every server and sandbox
// started here is stopped, also on error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, stringify } from "yaml";
import { down, up } from "../e2e/sandbox";
import { median, type Figure, type Sample } from "./lib/figures";
import { copyDatabase, ensureBuild, prepareDatabase, rssMB, seed, startApp, type RunningApp } from "./http/app";
import { load } from "./http/load";
import { watchPromotion, type PromotionRun } from "./http/viewers";

interface Sizes {
  rounds: number;
  seconds: number;
  connections: number;
  fewHosts: number;
  manyHosts: number;
  fewEvents: number;
  manyEvents: number;
  viewers: number;
  promotionHosts: number;
}

const FULL: Sizes = { rounds: 5, seconds: 4, connections: 20, fewHosts: 10, manyHosts: 1000, fewEvents: 1000, manyEvents: 500_000, viewers: 200, promotionHosts: 20 };
const QUICK: Sizes = { rounds: 1, seconds: 1, connections: 5, fewHosts: 10, manyHosts: 50, fewEvents: 200, manyEvents: 2000, viewers: 10, promotionHosts: 3 };
const PORTS = { few: 3601, many: 3602, promotion: 3603 };
const MAX_REQUESTS = 20_000;

const loadNote = () => `load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} on ${os.cpus().length} cores`;
const ms = (values: number[]): Sample => ({ values, unit: "ms" });

/** A config with `hosts` hosts at an address nothing listens on (the server's own probe finds them unreachable at once). */
function fakeFleetConfig(file: string, hosts: number): void {
  const names = Array.from({ length: hosts }, (_, i) => `bench${String(i + 1).padStart(4, "0")}`);
  writeFileSync(
    file,
    stringify({
      repository: { url: "http://127.0.0.1:9/", unsigned: true, refreshSeconds: 86_400 },
      ssh: { user: "root", privateKeyPath: "/nonexistent", knownHostsPath: "/nonexistent", connectTimeoutSeconds: 1 },
      fleet: { refreshSeconds: 86_400 },
      hosts: names.map((name) => ({ name, address: "127.0.0.1", port: 9 })),
      channels: [
        { name: "canary", hosts: names.slice(0, Math.max(1, Math.floor(hosts / 10))), batchSize: 1, maxFailures: 0 },
        { name: "beta", hosts: "all", requires: "canary", batchSize: 10, maxFailures: 1 },
      ],
    }),
  );
}

async function waitForProbe(app: RunningApp): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${app.url}/api/hosts`, { headers: { authorization: `Bearer ${app.token}` } });
    const body = (await res.json()) as { probe: { running: boolean } | null };
    if (body.probe && !body.probe.running) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

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
interface Template {
  databaseUrl: string;
  token: string;
}

function template(cwd: string, dir: string): Template {
  const configPath = path.join(dir, "config-template.yaml");
  fakeFleetConfig(configPath, 1);
  const databaseUrl = `file:${path.join(dir, "template.db")}`;
  return { databaseUrl, token: prepareDatabase(cwd, databaseUrl, configPath) };
}

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

async function p95s(s: Seeded, route: Route, z: Sizes): Promise<{ values: number[]; errors: number; requests: number }> {
  const headers: Record<string, string> = route.page ? { cookie: s.app.cookie } : { authorization: `Bearer ${s.app.token}` };
  const values: number[] = [];
  let errors = 0;
  let requests = 0;
  // The first requests of a route compile and cache its code: not what a viewer of a running server waits for.
  for (let i = 0; i < 3; i++) await (await fetch(`${s.app.url}${route.path(s)}`, { headers })).arrayBuffer();
  for (let r = 0; r < z.rounds; r++) {
    const res = await load(`${s.app.url}${route.path(s)}`, headers, { connections: z.connections, seconds: z.seconds, maxRequests: MAX_REQUESTS });
    values.push(res.p95);
    errors += res.errors;
    requests += res.requests;
  }
  return { values, errors, requests };
}

async function compare(few: Seeded, many: Seeded, route: Route, z: Sizes, o: { goal: string; maxRatio: number; maxMs?: number; fewLabel: string; manyLabel: string }): Promise<Figure> {
  const a = await p95s(few, route, z);
  const b = await p95s(many, route, z);
  const ratio = median(b.values) / median(a.values);
  const met = ratio <= o.maxRatio && (o.maxMs === undefined || median(b.values) < o.maxMs) && a.errors + b.errors === 0;
  return {
    id: `${route.key} ${o.manyLabel}`,
    what: `${route.what}, p95 with ${o.manyLabel} (${z.connections} connections, ${z.seconds} s per round)`,
    ours: ms(b.values),
    peer: { ...ms(a.values), name: `the same route with ${o.fewLabel}` },
    goal: o.goal,
    ratio,
    met,
    note: `${b.requests} / ${a.requests} requests, ${b.errors} / ${a.errors} errors or non-2xx; ${loadNote()}`,
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

/** A sandbox config for one channel of every host, all in one batch, with no timers in the way. */
function promotionConfig(sandboxConfig: string, file: string, hosts: number): void {
  const raw = parse(readFileSync(sandboxConfig, "utf8")) as Record<string, unknown> & { ssh: Record<string, unknown>; repository: Record<string, unknown> };
  raw.ssh.concurrency = hosts;
  raw.repository.refreshSeconds = 86_400;
  raw.fleet = { refreshSeconds: 86_400 };
  raw.channels = [{ name: "beta", hosts: "all", batchSize: hosts, maxFailures: hosts }];
  writeFileSync(file, stringify(raw));
}

async function promotionFigures(cwd: string, dir: string, t: Template, z: Sizes, log: (l: string) => void): Promise<{ figures: Figure[]; rss: number }> {
  const sbDir = path.join(dir, "sandbox");
  const t0 = performance.now();
  const sb = await up({ hosts: z.promotionHosts, dir: sbDir });
  let app: RunningApp | null = null;
  try {
    log(`http: sandbox of ${sb.hosts.length} hosts up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const configPath = path.join(dir, "config-promotion.yaml");
    promotionConfig(sb.configPath, configPath, z.promotionHosts);
    const databaseUrl = copyDatabase(t.databaseUrl, `file:${path.join(dir, "bench-promotion.db")}`);
    app = await startApp({ cwd, dir, databaseUrl, configPath, port: PORTS.promotion, token: t.token });
    await waitForProbe(app);
    const versions = [sb.versions[0]!, sb.versions[sb.versions.length - 1]!];
    const unwatched: PromotionRun[] = [];
    const watched: PromotionRun[] = [];
    let n = 0;
    for (let r = 0; r < z.rounds; r++) {
      // Alternate which goes first, so neither always follows the other.
      for (const viewers of r % 2 ? [z.viewers, 0] : [0, z.viewers]) {
        const run = await watchPromotion(app, { version: versions[n++ % 2]!, viewers, hosts: z.promotionHosts });
        (viewers ? watched : unwatched).push(run);
        log(`http: promotion of ${z.promotionHosts} hosts with ${viewers} viewers: ${(run.ms / 1000).toFixed(2)} s, ${run.errors} errors, ${run.sawFinal}/${viewers * 2} viewers saw the end state`);
      }
    }
    const rss = rssMB(app.pid);
    const w = watched.map((r) => r.ms / 1000);
    const u = unwatched.map((r) => r.ms / 1000);
    const errors = watched.reduce((a, r) => a + r.errors, 0);
    const missed = watched.reduce((a, r) => a + (r.viewers * 2 - r.sawFinal), 0);
    const allOk = [...watched, ...unwatched].every((r) => r.status === "succeeded");
    const ratio = median(w) / median(u);
    return {
      rss,
      figures: [
        {
          id: `6 promotion watched by ${z.viewers}+${z.viewers}`,
          what: `promotion of ${z.promotionHosts} sandbox hosts (one batch) with ${z.viewers} viewers of its event stream and ${z.viewers} of /hosts`,
          ours: { values: w, unit: "s" },
          peer: { values: u, unit: "s", name: "the same promotion unwatched" },
          goal: "≤ 1.2×; 0 errors; every viewer sees the final state",
          ratio,
          met: ratio <= 1.2 && errors === 0 && missed === 0 && allOk,
          note: `${errors} viewer errors; ${missed} viewers missed the final state; deployments ${allOk ? "all succeeded" : "not all succeeded"}; server RSS after ${rss.toFixed(0)} MB; ${loadNote()}`,
        },
      ],
    };
  } finally {
    await app?.stop();
    await down(sbDir);
  }
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
  } finally {
    for (const app of apps) await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
