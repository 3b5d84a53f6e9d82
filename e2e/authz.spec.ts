// Every mutating API route × every kind of caller, against the built app on a cluster of its own
// (2 sandbox hosts: canary = the first, beta = both), so the deployments it starts touch no other spec.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, openSync, rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { expect, test, type APIRequestContext, type BrowserContext } from "@playwright/test";
import { down, up, type Sandbox } from "./sandbox";
import { signIn } from "./fixtures/auth";
import { E2E_DIR, E2E_PORT, USERS } from "./fixtures/env";

const DIR = path.join(E2E_DIR, "authz");
const SANDBOX = path.join(DIR, "sandbox");
const DB_FILE = path.join(DIR, "authz.db");
const PORT = Number(process.env.AUTHZ_E2E_PORT ?? E2E_PORT + 1000);
const BASE = `http://127.0.0.1:${PORT}`;
const CI_USER = "e2e-ci";
const UNKNOWN_VERSION = "0.0.1-1";

let sandbox: Sandbox;
let server: number | undefined;
let env: NodeJS.ProcessEnv;
let db: Database.Database;
const tokens: Record<string, string> = {};
let newest = "";
let oldest = "";
let canaryDeployment = 0;
let betaDeployment = 0;
let throwawayToken = 0;
let crossSite: BrowserContext;

function cli(args: string[], input?: string): string {
  return execFileSync("npx", ["tsx", "--conditions=react-server", "scripts/cli.ts", ...args], { env, input, encoding: "utf8", stdio: ["pipe", "pipe", "inherit"] }).trim();
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const count = (sql: string, ...params: unknown[]) => (db.prepare(sql).get(...params) as { n: number }).n;
const userId = (name: string) => count("SELECT id AS n FROM User WHERE name = ?", name);

/** What a refused request must not have changed. */
function state() {
  return {
    deployments: count("SELECT COUNT(*) AS n FROM Deployment"),
    locks: count("SELECT COUNT(*) AS n FROM HostLock"),
    activeTokens: count("SELECT COUNT(*) AS n FROM ApiToken WHERE revokedAt IS NULL"),
    users: db.prepare("SELECT name, role, disabledAt FROM User ORDER BY id").all(),
    builds: db.prepare("SELECT version, lastSeenAt FROM Build ORDER BY id").all(),
    observations: count("SELECT COUNT(*) AS n FROM HostObservation"),
  };
}

/** Refusals counted for a caller, route pattern and reason (every address and target). */
const refusals = (who: string, route: string, reason: string) =>
  count("SELECT COALESCE(SUM(count), 0) AS n FROM RefusedAttempt WHERE who = ? AND route = ? AND reason = ?", who, route, reason);

async function waitEnded(request: APIRequestContext, id: number) {
  await expect
    .poll(async () => (await (await request.get(`${BASE}/api/deployments/${id}`, { headers: bearer(tokens.admin!) })).json()).status, { timeout: 60_000 })
    .toMatch(/^(succeeded|failed|partial|cancelled|interrupted)$/);
}

async function startServer() {
  const log = openSync(path.join(DIR, "server.log"), "a");
  const child = spawn("node_modules/.bin/next", ["start", "-H", "127.0.0.1", "-p", String(PORT)], { env, stdio: ["ignore", log, log], detached: true });
  child.unref();
  server = child.pid;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${BASE}/api/health`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the app did not start on ${BASE}; see ${path.join(DIR, "server.log")}`);
}

test.beforeAll(async ({ browser, playwright }) => {
  test.setTimeout(180_000);
  const request = await playwright.request.newContext();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  sandbox = await up({ hosts: 2, dir: SANDBOX });
  newest = sandbox.versions[sandbox.versions.length - 1]!;
  oldest = sandbox.versions[0]!;
  env = {
    ...process.env,
    DATABASE_URL: `file:${DB_FILE}`,
    SCAP_CHANNELS_CONFIG: sandbox.configPath,
    SCAP_CHANNELS_NO_TIMERS: "1",
    PORT: String(PORT),
    NEXTAUTH_URL: BASE,
    NEXTAUTH_SECRET: "authz-secret-authz-secret-authz-secret-0123",
  };
  execFileSync("npx", ["tsx", "--conditions=react-server", "scripts/prepare-db.ts"], { env, stdio: "inherit" });
  for (const u of [...Object.values(USERS), { name: CI_USER, role: "deployer", password: "e2e-ci-password" }, { name: "e2e-temp1", role: "deployer", password: "e2e-temp1-password" }, { name: "e2e-temp2", role: "deployer", password: "e2e-temp2-password" }]) {
    cli(["user", "add", u.name, "--role", u.role], u.password);
  }
  for (const who of ["admin", "deployer", "viewer"] as const) tokens[who] = cli(["token", "create", USERS[who].name, "--label", "authz"]);
  tokens.expired = cli(["token", "create", USERS.deployer.name, "--label", "expired", "--expires", "2s"]);
  tokens.revoked = cli(["token", "create", USERS.deployer.name, "--label", "revoked"]);
  cli(["token", "revoke", tokens.revoked.slice(0, 10)]);
  await startServer();
  db = new Database(DB_FILE, { readonly: true, fileMustExist: true });
  // Channels are known once the server has read the config: the CI token is checked against them.
  tokens.scoped = cli(["token", "create", CI_USER, "--label", "ci-canary", "--channels", "canary", "--permissions", "channels.read,channels.promote,channels.rollback,deployments.cancel,builds.read"]);
  const throwaway = cli(["token", "create", USERS.viewer.name, "--label", "throwaway"]);
  throwawayToken = count("SELECT id AS n FROM ApiToken WHERE prefix = ?", throwaway.slice(0, 10));

  const admin = bearer(tokens.admin!);
  expect((await request.post(`${BASE}/api/builds/refresh`, { headers: admin, data: {} })).status()).toBe(200);
  expect((await request.post(`${BASE}/api/hosts/refresh`, { headers: admin, data: {} })).status()).toBe(200);
  // One ended deployment on each channel, for cancel and retry to aim at.
  const canary = await request.post(`${BASE}/api/channels/canary/promote`, { headers: admin, data: { version: newest, reason: "authz: canary" } });
  expect(canary.status()).toBe(202);
  canaryDeployment = (await canary.json()).deployment.id;
  await waitEnded(request, canaryDeployment);
  const beta = await request.post(`${BASE}/api/channels/beta/promote`, { headers: admin, data: { version: newest, reason: "authz: beta" } });
  expect(beta.status()).toBe(202);
  betaDeployment = (await beta.json()).deployment.id;
  await waitEnded(request, betaDeployment);

  await request.dispose();
  crossSite = await browser.newContext({ baseURL: BASE });
  await signIn(await crossSite.newPage(), "admin");
});

test.afterAll(async () => {
  await crossSite?.close();
  db?.close();
  if (server) {
    try {
      process.kill(-server, "SIGTERM");
    } catch {
      // Gone already.
    }
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(-server, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await down(SANDBOX);
});

type Caller = "anonymous" | "viewer" | "deployer" | "admin" | "revoked" | "expired" | "scoped" | "crossSite";
const CALLERS: Caller[] = ["anonymous", "viewer", "revoked", "expired", "scoped", "crossSite", "deployer", "admin"];

interface Cell {
  /** Route pattern as refusals record it. */
  route: string;
  path: () => string;
  body: () => unknown;
  /** Expected status per caller; refused ones are 401/403. */
  expect: Record<Caller, number>;
}

// The answers of callers that pass the guard are 2xx, or 404/409 where the body is valid and the target is not.
const deployerAnd = (deployer: number, scoped: number, admin = deployer) => ({
  anonymous: 401,
  viewer: 403,
  revoked: 401,
  expired: 401,
  crossSite: 403,
  deployer,
  admin,
  scoped,
});
const adminOnly = (admin: number) => ({ ...deployerAnd(403, 403), admin });

const MATRIX: Cell[] = [
  { route: "POST /api/builds/refresh", path: () => "/api/builds/refresh", body: () => ({}), expect: deployerAnd(200, 403) },
  { route: "POST /api/hosts/refresh", path: () => "/api/hosts/refresh", body: () => ({}), expect: deployerAnd(200, 403) },
  { route: "POST /api/channels/:name/plan", path: () => "/api/channels/canary/plan", body: () => ({ version: newest }), expect: { ...deployerAnd(200, 200), viewer: 200 } },
  { route: "POST /api/channels/:name/plan", path: () => "/api/channels/beta/plan", body: () => ({ version: newest }), expect: { ...deployerAnd(200, 403), viewer: 200 } },
  { route: "POST /api/channels/:name/promote", path: () => "/api/channels/canary/promote", body: () => ({ version: newest, reason: "authz matrix" }), expect: deployerAnd(202, 202) },
  { route: "POST /api/channels/:name/promote", path: () => "/api/channels/beta/promote", body: () => ({ version: UNKNOWN_VERSION, reason: "authz matrix" }), expect: deployerAnd(404, 403) },
  { route: "POST /api/channels/:name/rollback", path: () => "/api/channels/canary/rollback", body: () => ({ version: UNKNOWN_VERSION, reason: "authz matrix" }), expect: deployerAnd(404, 404) },
  { route: "POST /api/channels/:name/rollback", path: () => "/api/channels/beta/rollback", body: () => ({ version: UNKNOWN_VERSION, reason: "authz matrix" }), expect: deployerAnd(404, 403) },
  { route: "POST /api/deployments/:id/cancel", path: () => `/api/deployments/${canaryDeployment}/cancel`, body: () => ({}), expect: deployerAnd(409, 409) },
  { route: "POST /api/deployments/:id/cancel", path: () => `/api/deployments/${betaDeployment}/cancel`, body: () => ({}), expect: deployerAnd(409, 403) },
  { route: "POST /api/deployments/:id/retry", path: () => `/api/deployments/${canaryDeployment}/retry`, body: () => ({}), expect: deployerAnd(409, 409) },
  { route: "POST /api/deployments/:id/retry", path: () => `/api/deployments/${betaDeployment}/retry`, body: () => ({}), expect: deployerAnd(409, 403) },
  { route: "POST /api/tokens", path: () => "/api/tokens", body: () => ({ user: USERS.viewer.name, name: "matrix" }), expect: adminOnly(201) },
  { route: "POST /api/tokens/:id/revoke", path: () => `/api/tokens/${throwawayToken}/revoke`, body: () => ({}), expect: adminOnly(200) },
  { route: "POST /api/users/:name/role", path: () => "/api/users/e2e-temp1/role", body: () => ({ role: "viewer" }), expect: adminOnly(200) },
  { route: "POST /api/users/:name/disable", path: () => "/api/users/e2e-temp2/disable", body: () => ({}), expect: adminOnly(200) },
];

function send(caller: Caller, request: APIRequestContext, cell: Cell) {
  const url = `${BASE}${cell.path()}`;
  const data = cell.body();
  if (caller === "anonymous") return request.post(url, { data });
  // A signed-in admin's browser, made to POST from another site.
  if (caller === "crossSite") return crossSite.request.post(url, { data, headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" } });
  return request.post(url, { data, headers: bearer(tokens[caller]!) });
}

/** Why the guard refuses this caller this route: the reason its refusal is counted under. */
function reasonFor(caller: Caller, cell: Cell): string {
  switch (caller) {
    case "anonymous":
      return "no-credentials";
    case "revoked":
      return "token-revoked";
    case "expired":
      return "token-expired";
    case "crossSite":
      return "cross-origin";
    case "scoped":
      if (cell.route.startsWith("POST /api/tokens") || cell.route.startsWith("POST /api/users")) return "role";
      return cell.route.includes("refresh") ? "token-permission" : "token-channel";
    default:
      return "role";
  }
}

function whoFor(caller: Caller): string {
  if (caller === "anonymous") return "anonymous";
  const name = { viewer: USERS.viewer.name, deployer: USERS.deployer.name, admin: USERS.admin.name, revoked: USERS.deployer.name, expired: USERS.deployer.name, scoped: CI_USER, crossSite: USERS.admin.name }[caller];
  return `user:${userId(name)}`;
}

test("every mutating route × every caller: 401/403 for the refused, changing nothing and counted; 2xx/404/409 for the allowed", async ({ request }) => {
  test.setTimeout(240_000);
  const started = Date.now();
  const seen: string[] = [];
  for (const caller of CALLERS) {
    for (const cell of MATRIX) {
      const expected = cell.expect[caller];
      const label = `${caller} ${cell.path()}`;
      const before = state();
      const reason = reasonFor(caller, cell);
      const countedBefore = refusals(whoFor(caller), cell.route, reason);
      const res = await send(caller, request, cell);
      const body = await res.json();
      expect(res.status(), `${label}: ${JSON.stringify(body)}`).toBe(expected);
      if (expected === 401 || expected === 403) {
        expect(body.error.code, label).toBe(expected === 401 ? "UNAUTHORIZED" : "FORBIDDEN");
        expect(state(), `${label} changed something`).toEqual(before);
        expect(refusals(whoFor(caller), cell.route, reason), `${label} was not counted as ${reason}`).toBe(countedBefore + 1);
        seen.push(`${caller}|${cell.route}|${reason}`);
      } else if (expected === 202) {
        await waitEnded(request, body.deployment.id);
        expect(count("SELECT COUNT(*) AS n FROM HostLock"), label).toBe(0);
        expect(body.deployment.channel).toBe("canary");
      } else if (expected === 404 || expected === 409) {
        expect(count("SELECT COUNT(*) AS n FROM Deployment"), `${label} started a deployment`).toBe(before.deployments);
        expect(count("SELECT COUNT(*) AS n FROM HostLock"), label).toBe(0);
      }
    }
  }
  // Each kind of refusal left an auth.refused event saying who, which route and why (once per window and key).
  for (const key of new Set(seen)) {
    const [caller, route, reason] = key.split("|") as [Caller, string, string];
    const actor = caller === "anonymous" ? "anonymous" : whoFor(caller);
    const n = count(
      `SELECT COUNT(*) AS n FROM AuditEvent WHERE action = 'auth.refused' AND json_extract(payload, '$.route') = ? AND json_extract(payload, '$.reason') = ? AND ${actor === "anonymous" ? "actorName = 'anonymous'" : "actorId = ?"}`,
      ...[route.slice("POST ".length), reason, ...(actor === "anonymous" ? [] : [Number(actor.slice("user:".length))])],
    );
    expect(n, `no auth.refused event for ${key}`).toBeGreaterThanOrEqual(1);
  }
  const scopedOnBeta = db
    .prepare("SELECT actorName, source, target, payload FROM AuditEvent WHERE action = 'auth.refused' AND actorName = ? AND json_extract(payload, '$.route') = '/api/channels/:name/promote'")
    .get(CI_USER) as { actorName: string; source: string; target: string; payload: string };
  expect(scopedOnBeta).toMatchObject({ source: "api", target: "beta" });
  expect(JSON.parse(scopedOnBeta.payload)).toMatchObject({ status: 403, reason: "token-channel", permission: "channels.promote", channel: "beta", count: 1 });
  // What the allowed admin calls did.
  expect(db.prepare("SELECT role FROM User WHERE name = 'e2e-temp1'").get()).toEqual({ role: "viewer" });
  expect((db.prepare("SELECT disabledAt FROM User WHERE name = 'e2e-temp2'").get() as { disabledAt: unknown }).disabledAt).not.toBeNull();
  expect((db.prepare("SELECT revokedAt FROM ApiToken WHERE id = ?").get(throwawayToken) as { revokedAt: unknown }).revokedAt).not.toBeNull();
  console.log(`matrix: ${CALLERS.length} callers × ${MATRIX.length} routes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test("an anonymous flood is counted in full but audited bounded", async ({ request }) => {
  const route = "POST /api/channels/:name/promote";
  const eventsOf = () =>
    count("SELECT COUNT(*) AS n FROM AuditEvent WHERE action = 'auth.refused' AND actorName = 'anonymous' AND json_extract(payload, '$.route') = '/api/channels/:name/promote'");
  const countedBefore = refusals("anonymous", route, "no-credentials");
  const eventsBefore = eventsOf();
  const before = state();
  for (let i = 0; i < 40; i++) {
    const res = await request.post(`${BASE}/api/channels/c${i}/promote`, { data: { version: newest, reason: "flood" } });
    expect(res.status()).toBe(401);
  }
  expect(state()).toEqual(before);
  expect(refusals("anonymous", route, "no-credentials")).toBe(countedBefore + 40);
  // Events only at the 10th (and 100th, ...) refusal of the key: at most one more for these 40.
  expect(eventsOf() - eventsBefore).toBeLessThanOrEqual(1);
  // One row for the address and route, whatever channel names were typed.
  expect(count("SELECT COUNT(*) AS n FROM RefusedAttempt WHERE who = 'anonymous' AND route = ? AND reason = 'no-credentials'", route)).toBe(1);
  expect(count("SELECT COUNT(*) AS n FROM AuditEvent WHERE action = 'auth.refused' AND actorName = 'anonymous' AND ip = '127.0.0.1'")).toBeLessThanOrEqual(20);
});

test("a refused gate, a bad body and a cross-site POST are audited with their reason, and nothing starts", async ({ request }) => {
  const deployer = bearer(tokens.deployer!);
  const before = state();
  const gate = await request.post(`${BASE}/api/channels/beta/promote`, { headers: deployer, data: { version: oldest, reason: "authz: past the gate" } });
  expect(gate.status()).toBe(409);
  const bad = await request.post(`${BASE}/api/channels/canary/promote`, { headers: deployer, data: { version: "1.0;touch /tmp/x", reason: "x" } });
  expect(bad.status()).toBe(400);
  expect(state()).toEqual(before);
  const last = (reason: string) =>
    db.prepare("SELECT actorName, target, payload FROM AuditEvent WHERE action = 'auth.refused' AND json_extract(payload, '$.reason') = ? ORDER BY id DESC").get(reason) as
      | { actorName: string; target: string; payload: string }
      | undefined;
  expect(last("gate")).toMatchObject({ actorName: USERS.deployer.name, target: "beta" });
  expect(JSON.parse(last("gate")!.payload)).toMatchObject({ status: 409, code: "CONFLICT", route: "/api/channels/:name/promote" });
  expect(JSON.parse(last("validation")!.payload)).toMatchObject({ status: 400, code: "BAD_REQUEST" });
  const cross = JSON.parse(last("cross-origin")!.payload);
  expect(cross).toMatchObject({ status: 403, code: "FORBIDDEN" });
  // The same browser session from this site is let through: the refusal was the origin, not the session.
  const sameSite = await crossSite.request.post(`${BASE}/api/channels/canary/plan`, { data: { version: newest }, headers: { origin: BASE } });
  expect(sameSite.status()).toBe(200);
});

test("admins manage tokens and users on /settings; others see no Settings", async ({ browser, request }) => {
  const page = await crossSite.newPage();
  await page.goto(`${BASE}/settings/tokens`);
  await expect(page.getByRole("link", { name: "Settings" })).toBeVisible();
  await expect(page.getByTestId("tokens-table")).toContainText("ci-canary");
  const ciRow = page.locator(`[data-testid=token-row][data-prefix="${tokens.scoped!.slice(0, 10)}"]`);
  await expect(ciRow).toContainText("channels: canary");
  await expect(ciRow).toContainText("channels.promote");
  await page.getByLabel("User").selectOption(USERS.deployer.name);
  await page.getByLabel("Label").fill("from-the-page");
  await page.getByRole("checkbox", { name: "canary" }).check();
  await page.getByRole("checkbox", { name: "hosts.refresh" }).check();
  await page.getByRole("button", { name: "Create token" }).click();
  const made = (await page.getByTestId("new-token").textContent())!.trim();
  expect(made).toMatch(/^sct_/);
  // The new token does what it was given, and no more.
  expect((await request.post(`${BASE}/api/hosts/refresh`, { headers: bearer(made), data: {} })).status()).toBe(200);
  expect((await request.post(`${BASE}/api/builds/refresh`, { headers: bearer(made), data: {} })).status()).toBe(403);
  page.once("dialog", (d) => void d.accept());
  await page.locator(`[data-testid=token-row][data-prefix="${made.slice(0, 10)}"]`).getByRole("button", { name: "Revoke" }).click();
  await expect(page.locator(`[data-testid=token-row][data-prefix="${made.slice(0, 10)}"]`)).toContainText("revoked");
  expect((await request.post(`${BASE}/api/hosts/refresh`, { headers: bearer(made), data: {} })).status()).toBe(401);

  await page.goto(`${BASE}/settings/users`);
  const row = page.locator(`[data-testid=user-row][data-user="${CI_USER}"]`);
  await expect(row).toContainText("active");
  await row.getByLabel(`Role of ${CI_USER}`).selectOption("viewer");
  await expect.poll(() => (db.prepare("SELECT role FROM User WHERE name = ?").get(CI_USER) as { role: string }).role).toBe("viewer");
  // The CI token follows its user's role at its next use.
  expect((await request.post(`${BASE}/api/channels/canary/promote`, { headers: bearer(tokens.scoped!), data: { version: newest, reason: "x" } })).status()).toBe(403);
  await expect(page.locator(`[data-testid=user-row][data-user="${USERS.admin.name}"]`).getByRole("button", { name: "Disable" })).toBeDisabled();
  await expect(page.locator(`[data-testid=user-row][data-user="${USERS.admin.name}"]`)).not.toContainText("never");

  const viewer = await browser.newContext({ baseURL: BASE });
  const vp = await viewer.newPage();
  await signIn(vp, "viewer");
  await expect(vp.getByRole("link", { name: "Settings" })).toHaveCount(0);
  await vp.goto(`${BASE}/settings/tokens`);
  await expect(vp.getByText("Settings are for admins.")).toBeVisible();
  await expect(vp.getByTestId("tokens-table")).toHaveCount(0);
  await viewer.close();
});
