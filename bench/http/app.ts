// Starts the built app (next start) on a fresh SQLite database with one admin user, its API token
// and a signed-in session, the way e2e/fixtures/global-setup.ts does; measures its memory.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, openSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

export const BENCH_USER = { name: "bench-admin", password: "bench-admin-password-1" };

export interface RunningApp {
  url: string;
  port: number;
  pid: number;
  databaseUrl: string;
  token: string;
  cookie: string;
  log: string;
  stop(): Promise<void>;
}

const TSX = ["tsx", "--conditions=react-server"];
// Only for the environment check of the scripts that prepare and seed a database; nothing listens on it.
const TEMPLATE_PORT = 3600;

function appEnv(databaseUrl: string, configPath: string, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    SCAP_CHANNELS_CONFIG: configPath,
    PORT: String(port),
    NEXTAUTH_URL: `http://127.0.0.1:${port}`,
    NEXTAUTH_SECRET: "bench-secret-bench-secret-bench-secret-bench",
  };
}

/** Uses the project's build when there is one, else builds it (next build) once. */
export function ensureBuild(cwd: string, log: (line: string) => void): void {
  if (existsSync(path.join(cwd, ".next", "BUILD_ID"))) return;
  log("http: no .next build here; running next build");
  execFileSync("npx", ["next", "build"], { cwd, stdio: ["ignore", "ignore", "inherit"] });
}

/** Migrates a new database and adds the bench admin with a token; returns the token. */
export function prepareDatabase(cwd: string, databaseUrl: string, configPath: string): string {
  const env = appEnv(databaseUrl, configPath, TEMPLATE_PORT);
  execFileSync("npx", [...TSX, "scripts/prepare-db.ts"], { cwd, env, stdio: ["ignore", "ignore", "inherit"] });
  execFileSync("npx", [...TSX, "scripts/cli.ts", "user", "add", BENCH_USER.name, "--role", "admin"], { cwd, env, input: BENCH_USER.password, stdio: ["pipe", "ignore", "inherit"] });
  return execFileSync("npx", [...TSX, "scripts/cli.ts", "token", "create", BENCH_USER.name, "--label", "bench"], { cwd, env, encoding: "utf8" }).trim();
}

/** A copy of a prepared database (migrated, with the bench admin), so each app starts from the same one without preparing it again. */
export function copyDatabase(from: string, to: string): string {
  const file = (url: string) => url.replace(/^file:/, "");
  for (const suffix of ["", "-wal"]) if (existsSync(file(from) + suffix)) copyFileSync(file(from) + suffix, file(to) + suffix);
  return to;
}

/** Runs a bench/http/seed.ts command against the database (in its own process, so each app has its own client). */
export function seed(cwd: string, databaseUrl: string, configPath: string, args: string[]): string {
  const env = appEnv(databaseUrl, configPath, TEMPLATE_PORT);
  return execFileSync("npx", [...TSX, "bench/http/seed.ts", ...args], { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 16 * 1024 * 1024 }).trim();
}

async function waitForHealth(url: string, ms: number, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the app exited with ${child.exitCode} before it was healthy (log: ${logFile})`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the app did not become healthy at ${url}: ${last} (log: ${logFile})`);
}

/** Signs in through next-auth's credentials flow and returns the session cookie. */
async function signIn(url: string): Promise<string> {
  const csrfRes = await fetch(`${url}/api/auth/csrf`);
  const { csrfToken } = (await csrfRes.json()) as { csrfToken: string };
  const jar = csrfRes.headers.getSetCookie().map((c) => c.split(";")[0]!);
  const res = await fetch(`${url}/api/auth/callback/credentials`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar.join("; "), origin: url },
    body: new URLSearchParams({ csrfToken, username: BENCH_USER.name, password: BENCH_USER.password, json: "true" }),
  });
  const session = res.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => c.includes("session-token"));
  if (!session) throw new Error(`signing in as ${BENCH_USER.name} gave no session cookie (status ${res.status})`);
  return session;
}

const PORT_RANGE = { first: 3601, last: 3699 };

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** The first free loopback port in 3601–3699 from `from` on: another bench run may hold the usual ones. */
export async function freePort(from: number): Promise<number> {
  for (let port = Math.max(from, PORT_RANGE.first); port <= PORT_RANGE.last; port++) if (await portIsFree(port)) return port;
  throw new Error(`no free port in ${PORT_RANGE.first}–${PORT_RANGE.last} for the bench's server`);
}

/** Starts `next start` on the database (already prepared) and signs in. */
export async function startApp(opts: { cwd: string; dir: string; databaseUrl: string; configPath: string; port: number; token: string }): Promise<RunningApp> {
  // A server already on the port would answer the health check in this one's place.
  const o = { ...opts, port: await freePort(opts.port) };
  const logFile = path.join(o.dir, `server-${o.port}.log`);
  const out = openSync(logFile, "a");
  const child = spawn(path.join(o.cwd, "node_modules/.bin/next"), ["start", "-H", "127.0.0.1", "-p", String(o.port)], {
    cwd: o.cwd,
    env: appEnv(o.databaseUrl, o.configPath, o.port),
    stdio: ["ignore", out, out],
    detached: true,
  });
  const url = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
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
  };
  try {
    await waitForHealth(`${url}/api/health`, 60_000, child, logFile);
    const cookie = await signIn(url);
    return { url, port: o.port, pid: child.pid!, databaseUrl: o.databaseUrl, token: o.token, cookie, log: logFile, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Resident memory of a process and its descendants (next start may run the server in a child), in MB. */
export function rssMB(pid: number): number {
  const children = new Map<number, number[]>();
  let total = 0;
  const rss = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      rss.set(Number(entry), kb);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we read.
    }
  }
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    total += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return total / 1024;
}
