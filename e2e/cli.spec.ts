// The CI commands (`npm run cli -- promote|rollback|wait`) as a child process against the built app,
// with nothing but a URL and a token. They run against a second server of the same build and sandbox
// with a copy of the e2e database (same users and tokens), so the deployments made here do not show
// in the other specs' counts; the hosts end as they began and the main server is told so.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { expect, test } from "@playwright/test";
import { installedVersion, load, startHost, stopHost, type Sandbox } from "./sandbox";
import { DATABASE_URL, E2E_DIR, E2E_PORT, SANDBOX_DIR, TOKENS_FILE, USERS } from "./fixtures/env";

test.describe.configure({ mode: "serial" });

const PORT = E2E_PORT + 1;
const URL = `http://127.0.0.1:${PORT}`;
const CLI_DB = path.join(E2E_DIR, "cli.db");
const tokens = () => JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as Record<"admin" | "deployer" | "viewer", string>;

const MAIN = `http://127.0.0.1:${E2E_PORT}`;
let mainDeploymentsBefore = 0;
let mainRefreshed = false;
let serverPid: number | null = null;
let tokenDir = "";
let sb: Sandbox;
let canary = "";
let before: string | null = null;
let newest = "";
/** Every host's version before this spec, to leave them so. */
const initial = new Map<string, string | null>();

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** The CLI as a CI job runs it: an environment with no database, no config and no secret. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["tsx", "--conditions=react-server", "scripts/cli.ts", ...args], {
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? os.tmpdir(), ...env } as Partial<NodeJS.ProcessEnv> as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

/** The deployer's token, limited to promoting on canary as the README's CI example makes it. */
let ciToken = "";

function tokenFile(who: "deployer" | "viewer" | "ci"): string {
  const file = path.join(tokenDir, who);
  writeFileSync(file, `${who === "ci" ? ciToken : tokens()[who]}\n`, { mode: 0o600 });
  return file;
}

const remote = (who: "deployer" | "viewer" | "ci") => ["--url", URL, "--token-file", tokenFile(who)];

function expectNoToken(r: CliRun) {
  for (const t of [...Object.values(tokens()), ciToken]) expect(r.stdout + r.stderr).not.toContain(t);
}

async function api(base: string, method: string, pathname: string, who: "deployer" | "viewer" = "deployer") {
  const res = await fetch(`${base}${pathname}`, { method, headers: { authorization: `Bearer ${tokens()[who]}` } });
  expect(res.status, `${method} ${pathname}: ${await res.clone().text()}`).toBe(200);
  return res.json();
}

test.beforeAll(async () => {
  test.setTimeout(120_000);
  sb = await load(SANDBOX_DIR);
  canary = sb.hosts[0]!.name;
  newest = sb.versions[sb.versions.length - 1]!;
  for (const h of sb.hosts) initial.set(h.name, await installedVersion(sb, h.name));
  before = initial.get(canary)!;
  expect(before).not.toBe(newest);
  tokenDir = mkdtempSync(path.join(os.tmpdir(), "scap-cli-tokens-"));
  mainDeploymentsBefore = (await api(MAIN, "GET", "/api/deployments?limit=100", "viewer")).deployments.length;

  // An online copy of the e2e database: the users and tokens of the set-up, nothing shared after.
  rmSync(CLI_DB, { force: true });
  const source = new Database(DATABASE_URL.replace(/^file:/, ""), { readonly: true, fileMustExist: true });
  await source.backup(CLI_DB);
  source.close();
  const made = spawnSync(
    "npx",
    ["tsx", "--conditions=react-server", "scripts/cli.ts", "token", "create", USERS.deployer.name, "--label", "ci", "--channels", "canary", "--permissions", "builds.refresh,channels.promote,deployments.read"],
    { env: { ...process.env, DATABASE_URL: `file:${CLI_DB}`, SCAP_CHANNELS_CONFIG: path.join(SANDBOX_DIR, "config.yaml") }, encoding: "utf8" },
  );
  expect(made.status, made.stderr).toBe(0);
  ciToken = made.stdout.trim();
  const log = openSync(path.join(E2E_DIR, "cli-server.log"), "a");
  const server = spawn("node_modules/.bin/next", ["start", "-H", "127.0.0.1", "-p", String(PORT)], {
    env: {
      ...process.env,
      DATABASE_URL: `file:${CLI_DB}`,
      SCAP_CHANNELS_CONFIG: path.join(SANDBOX_DIR, "config.yaml"),
      SCAP_CHANNELS_NO_TIMERS: "1",
      NEXTAUTH_URL: URL,
      NEXTAUTH_SECRET: "e2e-cli-secret-e2e-cli-secret-e2e-cli-secret",
      PORT: String(PORT),
    },
    stdio: ["ignore", log, log],
    detached: true,
  });
  serverPid = server.pid!;
  server.unref();
  await expect
    .poll(async () => (await fetch(`${URL}/api/health`).catch(() => null))?.status ?? 0, { timeout: 60_000, intervals: [250] })
    .toBe(200);
  // This server's own view of the repository and the hosts, now.
  await api(URL, "POST", "/api/builds/refresh");
  await api(URL, "POST", "/api/hosts/refresh");
});

test.afterAll(async () => {
  test.setTimeout(60_000);
  if (sb) await startHost(sb, canary);
  if (serverPid) {
    try {
      process.kill(-serverPid, "SIGTERM");
    } catch {
      // Gone already.
    }
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(-serverPid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      process.kill(-serverPid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  rmSync(CLI_DB, { force: true });
  rmSync(`${CLI_DB}-wal`, { force: true });
  rmSync(`${CLI_DB}-shm`, { force: true });
  if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
  // The main e2e server last saw the hosts before this spec; let it look again (the last test does, unless it failed first).
  if (sb && !mainRefreshed) await api(MAIN, "POST", "/api/hosts/refresh");
});

test("promote --wait to canary with a canary-only token prints each host as it goes and exits 0 once the host runs the build", async () => {
  test.setTimeout(90_000);
  const reason = "e2e cli: new build to canary";
  const r = await cli(["promote", "canary", newest, "--reason", reason, "--wait", ...remote("ci")]);
  expectNoToken(r);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  expect(lines[0]).toMatch(new RegExp(`^deployment (\\d+): promote ${esc(newest)} to canary .*1 host\\(s\\) — ${URL}/deployments/\\d+$`));
  const salLine = `!log ${USERS.deployer.name}: Upgrading scap to ${newest} in beta cluster (canary): ${reason}`;
  expect(lines[1]).toBe(salLine);
  expect(lines).toContain(`${canary}  running  ${before} → ${newest}`);
  expect(lines.some((l) => new RegExp(`^${canary}  succeeded  ${esc(newest)} \\(\\d+\\.\\d s\\)$`).test(l))).toBe(true);
  expect(lines.indexOf(`${canary}  running  ${before} → ${newest}`)).toBeLessThan(lines.findIndex((l) => l.startsWith(`${canary}  succeeded`)));
  expect(lines.at(-2)).toMatch(/^succeeded: deployment \d+, 1 succeeded of 1 host\(s\) in \d+\.\d s$/);
  expect(lines.at(-1)).toBe(salLine);
  expect(await installedVersion(sb, canary)).toBe(newest);
  for (const h of sb.hosts.slice(1)) expect(await installedVersion(sb, h.name)).toBe(initial.get(h.name));
  console.log(`promote --wait: ${r.seconds.toFixed(1)} s`);

  // The deployment record says the same; `wait` on it, now ended, prints it and exits 0.
  const id = Number(/^deployment (\d+):/.exec(lines[0]!)![1]);
  const w = await cli(["wait", String(id), ...remote("viewer")]);
  expect(w.code, w.stdout + w.stderr).toBe(0);
  expect(w.stdout).toMatch(new RegExp(`^deployment ${id}: promote `));
  expect(w.stdout).toContain(`${canary}  succeeded  ${newest}`);
  expect(w.stdout.trimEnd().split("\n").at(-1)).toBe(salLine);
});

test("refusals exit 2 with the server's message and start nothing; no server exits 3", async () => {
  test.setTimeout(60_000);
  const countBefore = (await api(URL, "GET", "/api/deployments?limit=100", "viewer")).deployments.length;
  const unknown = await cli(["promote", "canary", "9.9.9-1", "--reason", "e2e cli: no such build", "--wait", ...remote("deployer")]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("refused (404 NOT_FOUND): 9.9.9-1 is not a known build of scap");
  const viewer = await cli(["rollback", "canary", "--reason", "e2e cli: viewer", "--wait", ...remote("viewer")]);
  expect(viewer.code).toBe(2);
  expect(viewer.stderr).toMatch(/^refused \(403 FORBIDDEN\): .*channels\.rollback/);
  expectNoToken(viewer);
  const beta = await cli(["promote", "beta", newest, "--reason", "e2e cli: past canary", "--wait", ...remote("ci")]);
  expect(beta.code).toBe(2);
  expect(beta.stderr).toMatch(/^refused \(403 FORBIDDEN\): This API token .* is limited to the channel canary; beta is not one of them\./);
  expectNoToken(beta);
  // The token from the environment; an unknown flag is refused before any request.
  const flag = await cli(["promote", "canary", newest, "--reason", "x", "--force", "--url", URL], { SCAP_CHANNELS_TOKEN: tokens().deployer });
  expect(flag.code).toBe(2);
  expect(flag.stderr).toMatch(/Unknown option '--force'[\s\S]*usage:/);
  const badToken = await cli(["wait", "1", "--url", URL], { SCAP_CHANNELS_TOKEN: "sct_not-a-token" });
  expect(badToken.code).toBe(2);
  expect(badToken.stderr).toMatch(/^refused \(401 UNAUTHORIZED\)/);
  expect((await api(URL, "GET", "/api/deployments?limit=100", "viewer")).deployments.length).toBe(countBefore);

  const spare = createServer();
  await new Promise<void>((r) => spare.listen(0, "127.0.0.1", r));
  const closedPort = (spare.address() as AddressInfo).port;
  await new Promise((r) => spare.close(r));
  const down = await cli(["promote", "canary", newest, "--reason", "x", "--wait", "--url", `http://127.0.0.1:${closedPort}`, "--token-file", tokenFile("deployer")]);
  expect(down.code).toBe(3);
  expect(down.stderr).toMatch(/cannot be reached: connect ECONNREFUSED/);
});

test("a rollback whose host is down exits 1 naming the host; after it is back, rollback and wait restore it", async () => {
  test.setTimeout(120_000);
  await stopHost(sb, canary);
  let failed: CliRun;
  try {
    failed = await cli(["rollback", "canary", "--reason", "e2e cli: canary host down", "--wait", ...remote("deployer")]);
  } finally {
    await startHost(sb, canary);
  }
  expect(failed.code, failed.stdout + failed.stderr).toBe(1);
  expect(failed.stdout).toMatch(new RegExp(`^deployment \\d+: roll canary back to ${esc(before!)} \\(from ${esc(newest)}\\)`));
  expect(failed.stdout).toMatch(new RegExp(`\\n${canary}  failed  unreachable: .+`));
  expect(failed.stdout).toMatch(/\nfailed: deployment \d+, 0 succeeded, 1 failed of 1 host\(s\)/);
  expect(await installedVersion(sb, canary)).toBe(newest);
  const failedId = Number(/^deployment (\d+):/.exec(failed.stdout)![1]);
  const again = await cli(["wait", String(failedId), ...remote("viewer")]);
  expect(again.code).toBe(1);
  expect(again.stdout).toContain(`${canary}  failed  unreachable:`);

  // Without --wait: the id and the !log line, exit 0 at once; then `wait` follows it to the end.
  const started = await cli(["rollback", "canary", "--reason", "e2e cli: restore canary", ...remote("deployer")]);
  expect(started.code, started.stdout + started.stderr).toBe(0);
  const id = Number(/^deployment (\d+):/.exec(started.stdout)![1]);
  expect(started.stdout.split("\n")[1]).toBe(`!log ${USERS.deployer.name}: Rolling back scap to ${before} in beta cluster (canary): e2e cli: restore canary`);
  const w = await cli(["wait", String(id), "--timeout", "90", ...remote("deployer")]);
  expect(w.code, w.stdout + w.stderr).toBe(0);
  expect(w.stdout).toContain(`${canary}  succeeded  ${before}`);
  for (const h of sb.hosts) expect(await installedVersion(sb, h.name)).toBe(initial.get(h.name));
});

test("the CLI reads no database and no config: a missing URL or token is a usage error", () => {
  const r = spawnSync("npx", ["tsx", "--conditions=react-server", "scripts/cli.ts", "wait", "1"], {
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? os.tmpdir(), DATABASE_URL: "file:/nonexistent/dir/x.db", SCAP_CHANNELS_CONFIG: "/nonexistent/config.yaml" } as Partial<NodeJS.ProcessEnv> as NodeJS.ProcessEnv,
    encoding: "utf8",
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/^no server given: pass --url URL or set SCAP_CHANNELS_URL/);
});

test("the main e2e server saw none of it: no deployment there, and its next look finds every host on its old version", async () => {
  expect((await api(MAIN, "GET", "/api/deployments?limit=100", "viewer")).deployments).toHaveLength(mainDeploymentsBefore);
  const { hosts } = (await api(MAIN, "POST", "/api/hosts/refresh")) as { hosts: { name: string; status: string; version: string | null }[] };
  mainRefreshed = true;
  expect(hosts).toHaveLength(sb.hosts.length);
  for (const h of hosts) expect({ name: h.name, status: h.status, version: h.version }).toEqual({ name: h.name, status: "ok", version: initial.get(h.name) });
});
