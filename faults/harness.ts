// What every fault scenario stands on: the built app as a real process (`npm start`), a sandbox
// beta cluster, the API as a client sees it, and the ground truth to check after each fault:
// the hosts' own dpkg, the database file itself and the audit hash chain.
import { spawn, type ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import YAML from "yaml";
import { installedVersion, type Sandbox } from "../e2e/sandbox";

export const ROOT = path.resolve(import.meta.dirname, "..");
export const TSX = ["tsx", "--conditions=react-server"];

export const USERS = {
  admin: { name: "faults-admin", password: "faults-admin-password-1", role: "admin" },
  deployer: { name: "faults-deployer", password: "faults-deployer-password-1", role: "deployer" },
  viewer: { name: "faults-viewer", password: "faults-viewer-password-1", role: "viewer" },
} as const;

/** Every secret the app is given; none may ever appear in what it prints, answers or records. */
export const SECRETS = {
  NEXTAUTH_SECRET: "faults-nextauth-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
  SCAP_CHANNELS_OIDC_CLIENT_SECRET: "faults-oidc-client-secret-7a6b5c4d3e2f1a0b",
  FAULTS_WEBHOOK_SECRET: "faults-webhook-secret-9c8b7a6f5e4d3c2b1a00",
};

export interface Tokens {
  admin: string;
  deployer: string;
  viewer: string;
  /** deployer's, limited to channels.promote on canary */
  canaryOnly: string;
  revoked: string;
  expired: string;
}

export class CheckFailed extends Error {}

/** Throws a CheckFailed with `message` unless `ok`. */
export function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new CheckFailed(message);
}

export function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a value other than undefined/false, or throws after `ms`. */
export async function until<T>(what: string, ms: number, fn: () => Promise<T | undefined | false>, every = 250): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new CheckFailed(`${what}: not within ${ms / 1000} s${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(every);
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort(from: number, to: number): Promise<number> {
  for (let port = from; port <= to; port++) if (await portIsFree(port)) return port;
  throw new Error(`no free port in ${from}-${to}`);
}

export interface Response {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  headers: Headers;
}

/** One `npm start` of the built app. */
export class App {
  child: ChildProcess | null = null;
  readonly url: string;
  readonly log: string;
  /** Every body the app answered, for the secrets check. */
  readonly answers: string[] = [];

  constructor(
    readonly port: number,
    readonly databaseUrl: string,
    readonly configPath: string,
    readonly dir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.log = path.join(dir, `server-${port}.log`);
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      NODE_ENV: "production",
      DATABASE_URL: this.databaseUrl,
      SCAP_CHANNELS_CONFIG: this.configPath,
      PORT: String(this.port),
      HOST: "127.0.0.1",
      NEXTAUTH_URL: this.url,
      NEXTAUTH_SECRET: SECRETS.NEXTAUTH_SECRET,
      SCAP_CHANNELS_OIDC_CLIENT_SECRET: SECRETS.SCAP_CHANNELS_OIDC_CLIENT_SECRET,
      FAULTS_WEBHOOK_SECRET: SECRETS.FAULTS_WEBHOOK_SECRET,
    };
  }

  /** `npm start`: prepare-db (environment, config, migrations), then next start; resolves once healthy. */
  async start(): Promise<void> {
    const out = openSync(this.log, "a");
    writeFileSync(out, `\n==== npm start at ${new Date().toISOString()}\n`);
    const child = spawn("npm", ["start"], { cwd: ROOT, env: this.env(), stdio: ["ignore", out, out], detached: true });
    this.child = child;
    writeFileSync(path.join(this.dir, `server-${this.port}.pid`), String(child.pid));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode} before it was healthy (log: ${this.log})`);
      try {
        const res = await fetch(`${this.url}/api/health`);
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw new Error(`the app was not healthy within 90 s (log: ${this.log})`);
      await sleep(250);
    }
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error("the app is not running");
    return this.child.pid;
  }

  /** SIGKILL of the whole process group (npm, the shell, next's server): no chance to clean up. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    process.kill(-child.pid, "SIGKILL");
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Gone already.
      }
    }, 5000);
    await exited;
    clearTimeout(t);
    this.child = null;
  }

  async request(
    method: string,
    route: string,
    opts: { token?: string; cookie?: string; body?: unknown; raw?: string | Buffer; headers?: Record<string, string>; keepAnswer?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.cookie) headers.cookie = opts.cookie;
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (opts.raw !== undefined) body = typeof opts.raw === "string" ? opts.raw : new Uint8Array(opts.raw);
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    const res = await fetch(`${this.url}${route}`, { method, headers, body, redirect: "manual" });
    const text = await res.text();
    if (opts.keepAnswer !== false) this.answers.push(text);
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON (a page, an export).
    }
    return { status: res.status, text, json, headers: res.headers };
  }

  get(route: string, token: string) {
    return this.request("GET", route, { token });
  }

  post(route: string, token: string, body: unknown = {}) {
    return this.request("POST", route, { token, body });
  }

  /** Signs in through the sign-in form's own flow; returns the session cookie. */
  async signIn(name: string, password: string): Promise<string> {
    const csrfRes = await fetch(`${this.url}/api/auth/csrf`);
    const { csrfToken } = (await csrfRes.json()) as { csrfToken: string };
    const jar = csrfRes.headers.getSetCookie().map((c) => c.split(";")[0]!);
    const res = await fetch(`${this.url}/api/auth/callback/credentials`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.join("; "), origin: this.url },
      body: new URLSearchParams({ csrfToken, username: name, password, json: "true" }),
    });
    const session = res.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => c.includes("session-token"));
    if (!session) throw new Error(`signing in as ${name} gave no session cookie (status ${res.status})`);
    return session;
  }

  serverLog(): string {
    return existsSync(this.log) ? readFileSync(this.log, "utf8") : "";
  }
}

/** Runs a tsx script of the project with the app's environment; answers its stdout. */
export function runScript(app: App, args: string[], input?: string): string {
  return execFileSync("npx", [...TSX, ...args], { cwd: ROOT, env: app.env(), encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 }).trim();
}

/**
 * Kills the servers a killed earlier run left behind in `dir` (their process groups): one still
 * writing to a database this run deletes and creates again would corrupt the new one.
 */
export function killLeftovers(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    if (!/^server-\d+\.pid$/.test(f)) continue;
    const pid = Number(readFileSync(path.join(dir, f), "utf8"));
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

// ---- the database as it is on disk ---------------------------------------------------------------

export function dbFile(app: App): string {
  return app.databaseUrl.replace(/^file:/, "");
}

/** A read-only look at the app's database file (a second connection, as an operator would open it). */
export function withDb<T>(app: App, fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile(app), { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 10000");
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export const ACTIVE = ["queued", "running"];

/**
 * What must hold in the database whatever happened: every deployment has targets; a finished one
 * has no pending or running target and holds no host; every lock belongs to an active deployment
 * that lists that host; an active one has a lease; the file passes SQLite's integrity check.
 */
export function consistencyProblems(app: App): string[] {
  return withDb(app, (db) => {
    const problems: string[] = [];
    const integrity = db.pragma("integrity_check", { simple: true });
    if (integrity !== "ok") problems.push(`integrity_check: ${String(integrity)}`);
    const deployments = db.prepare("SELECT id, status, runnerId, leaseUntil FROM Deployment").all() as { id: number; status: string; runnerId: string | null; leaseUntil: number | null }[];
    const targets = db.prepare("SELECT deploymentId, hostId, status FROM DeploymentTarget").all() as { deploymentId: number; hostId: number; status: string }[];
    const locks = db.prepare("SELECT hostId, deploymentId FROM HostLock").all() as { hostId: number; deploymentId: number }[];
    const byDeployment = new Map<number, typeof targets>();
    for (const t of targets) byDeployment.set(t.deploymentId, [...(byDeployment.get(t.deploymentId) ?? []), t]);
    const status = new Map(deployments.map((d) => [d.id, d.status]));
    for (const d of deployments) {
      const own = byDeployment.get(d.id) ?? [];
      if (own.length === 0) problems.push(`deployment ${d.id} (${d.status}) has no targets`);
      if (!ACTIVE.includes(d.status)) {
        const open = own.filter((t) => t.status === "pending" || t.status === "running");
        if (open.length) problems.push(`deployment ${d.id} is ${d.status} but ${open.length} target(s) are ${[...new Set(open.map((t) => t.status))].join("/")}`);
      } else if (d.status === "running" && (!d.runnerId || !d.leaseUntil)) {
        problems.push(`deployment ${d.id} is running without a lease`);
      }
    }
    for (const l of locks) {
      const s = status.get(l.deploymentId);
      if (!s) problems.push(`host ${l.hostId} is locked by deployment ${l.deploymentId}, which does not exist`);
      else if (!ACTIVE.includes(s)) problems.push(`host ${l.hostId} is still locked by deployment ${l.deploymentId}, which is ${s}`);
      else if (!(byDeployment.get(l.deploymentId) ?? []).some((t) => t.hostId === l.hostId)) problems.push(`host ${l.hostId} is locked by deployment ${l.deploymentId}, which does not list it`);
    }
    return problems;
  });
}

export function assertConsistent(app: App): void {
  const problems = consistencyProblems(app);
  check(problems.length === 0, `database inconsistent: ${problems.join("; ")}`);
}

export function count(app: App, sql: string, ...params: unknown[]): number {
  return withDb(app, (db) => Number((db.prepare(sql).get(...params) as Record<string, number>)["n"]));
}

/** Walks the audit hash chain through the API (admin) and fails unless it verifies. */
export async function assertChainVerifies(app: App, token: string): Promise<number> {
  const res = await app.post("/api/audit/verify", token);
  check(res.status === 200, `POST /api/audit/verify answered ${res.status}: ${res.text.slice(0, 300)}`);
  const v = res.json.verification as { ok: boolean; checked?: number; events?: number; problem?: string | null };
  check(v.ok, `the audit chain does not verify: ${JSON.stringify(v).slice(0, 400)}`);
  return count(app, "SELECT count(*) AS n FROM AuditEvent");
}

// ---- deployments through the API -----------------------------------------------------------------

export interface DeploymentView {
  id: number;
  status: string;
  error: string | null;
  version: string;
  counts: Record<string, number>;
  targets: {
    host: string;
    status: string;
    exitCode: number | null;
    errorKind: string | null;
    error: string | null;
    reportedVersion: string | null;
    fromVersion: string | null;
    startedAt: string | null;
    finishedAt: string | null;
    output: string;
  }[];
}

export async function deployment(app: App, token: string, id: number): Promise<DeploymentView> {
  const res = await app.get(`/api/deployments/${id}`, token);
  check(res.status === 200, `GET /api/deployments/${id} answered ${res.status}`);
  return res.json as DeploymentView;
}

export async function promote(app: App, token: string, channel: string, version: string, reason: string, extra: Record<string, unknown> = {}): Promise<number> {
  const res = await app.post(`/api/channels/${channel}/promote`, token, { version, reason, ...extra });
  check(res.status === 202, `promote ${channel} to ${version} answered ${res.status}: ${res.text.slice(0, 400)}`);
  return res.json.deployment.id as number;
}

export async function waitFinished(app: App, token: string, id: number, ms = 120_000): Promise<DeploymentView> {
  return until(`deployment ${id} to finish`, ms, async () => {
    const d = await deployment(app, token, id);
    return ACTIVE.includes(d.status) ? undefined : d;
  }, 500);
}

/** What dpkg-query on each host says, host by host. */
export async function truth(sb: Sandbox, hosts: readonly string[]): Promise<Map<string, string | null>> {
  return new Map(await Promise.all(hosts.map(async (h) => [h, await installedVersion(sb, h)] as const)));
}

// ---- the config the app reads (it reloads on change) ---------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ConfigDoc = any;

export function readConfig(file: string): ConfigDoc {
  return YAML.parse(readFileSync(file, "utf8"));
}

export function writeConfig(file: string, doc: ConfigDoc): void {
  writeFileSync(file + ".tmp", YAML.stringify(doc));
  execFileSync("mv", [file + ".tmp", file]);
}

/** Changes the config file; the app reads the file again at its next use once its mtime changed. */
export function changeConfig(app: App, edit: (doc: ConfigDoc) => void): void {
  const doc = readConfig(app.configPath);
  edit(doc);
  writeConfig(app.configPath, doc);
}

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
