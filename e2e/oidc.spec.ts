// Sign-in through the organisation's identity provider, end to end in Chromium: a real OpenID
// Connect provider on 127.0.0.1 and a second app instance configured for it.
import { expect, test, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { E2E_PORT } from "./fixtures/env";
import { startOidcApp, type OidcApp } from "./fixtures/oidc-app";
import { startTestIdp, type TestIdp } from "./fixtures/oidc-provider";

// Clear of the ports other specs start servers on (E2E_PORT + 1, + 1000).
const APP_PORT = Number(process.env.OIDC_E2E_PORT ?? E2E_PORT + 30);
const IDP_PORT = APP_PORT + 1;
const CLIENT = { id: "scap-channels", secret: "oidc-e2e-client-secret" };
const PROVIDER_NAME = "Example CAS";
const GROUP = {
  admins: "cn=scap-admins,ou=groups,dc=example,dc=org",
  deployers: "cn=scap-deployers,ou=groups,dc=example,dc=org",
  staff: "cn=wmf,ou=groups,dc=example,dc=org",
  other: "cn=wikidev,ou=groups,dc=example,dc=org",
};
const ADMIN = { name: "oidc-e2e-admin", password: "oidc-e2e-admin-password" };

let idp: TestIdp;
let app: OidcApp;
let adminToken: string;

function auth(overrides: Record<string, unknown> = {}) {
  return {
    local: true,
    session: { idleMinutes: 60, maxHours: 12 },
    oidc: {
      issuer: idp.issuer,
      clientId: CLIENT.id,
      name: PROVIDER_NAME,
      scopes: ["openid", "profile", "groups"],
      groupsClaim: "memberOf",
      roles: { admin: [GROUP.admins], deployer: [GROUP.deployers], viewer: [GROUP.staff] },
    },
    ...overrides,
  };
}

test.describe.configure({ mode: "serial" });

test.beforeAll(async () => {
  test.setTimeout(120_000);
  idp = await startTestIdp({
    port: IDP_PORT,
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    redirectUri: `http://127.0.0.1:${APP_PORT}/api/auth/callback/oidc`,
    groupsClaim: "memberOf",
  });
  app = await startOidcApp({ port: APP_PORT, clientSecret: CLIENT.secret, auth: auth() });
  app.cli(["user", "add", ADMIN.name, "--role", "admin"], ADMIN.password);
  adminToken = app.cli(["token", "create", ADMIN.name, "--label", "oidc-e2e"]);
});

test.afterAll(async () => {
  await app?.stop();
  await idp?.close();
});

test.afterEach(() => {
  app.setAuth(auth());
});

async function lastAudit(action: string) {
  const res = await fetch(`${app.url}/api/audit?action=${action}&limit=1`, { headers: { authorization: `Bearer ${adminToken}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: Record<string, unknown>[] }).events[0];
}

/** Clicks "Sign in with ..." and, when the provider asks (no session there yet), logs in as `username`. */
async function signInWithIdp(page: Page, username: string, { idpForm = true } = {}) {
  await page.goto(`${app.url}/signin`, { waitUntil: "networkidle" }); // the button works once hydrated
  await page.getByRole("button", { name: `Sign in with ${PROVIDER_NAME}` }).click();
  if (idpForm) {
    await page.getByLabel("Username").fill(username);
    await page.getByRole("button", { name: "Continue" }).click();
  }
}

async function expectSignedIn(page: Page, name: string, role: string) {
  await expect(page).toHaveURL(`${app.url}/`);
  await expect(page.getByTestId("current-user")).toHaveText(name);
  await expect(page.getByTitle("Your role", { exact: true })).toHaveText(role);
}

async function signOut(page: Page) {
  await page.waitForLoadState("networkidle"); // the button works once hydrated
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(`${app.url}/signin`);
}

async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  return { context, page: await context.newPage() };
}

const apiStatus = async (context: BrowserContext) => (await context.request.get(`${app.url}/api/builds`)).status();

test("a person in the deployer group signs in with the provider and is a deployer; the sign-in is audited", async ({ browser }) => {
  idp.setGroups("dana", [GROUP.staff, GROUP.deployers]);
  const { context, page } = await newPage(browser);
  await page.goto(`${app.url}/signin`);
  await expect(page.getByLabel("Password")).toBeVisible(); // local accounts still offered beside the provider
  await signInWithIdp(page, "dana");
  await expectSignedIn(page, "dana", "deployer");
  expect(await lastAudit("user.signin")).toMatchObject({
    actor: "dana",
    source: "ui",
    payload: { method: "oidc", role: "deployer", groups: [GROUP.deployers] },
  });
  expect(await apiStatus(context)).toBe(200);
  await context.close();
});

test("a person in no mapped group is refused with a page that says why, audited as anonymous, and has no session", async ({ browser }) => {
  idp.setGroups("erin", [GROUP.other]);
  const { context, page } = await newPage(browser);
  await signInWithIdp(page, "erin");
  await expect(page).toHaveURL(/\/signin\/refused\?reason=no-role$/);
  await expect(page.getByRole("heading", { name: "You cannot sign in to Scap Channels" })).toBeVisible();
  await expect(page.getByTestId("refusal")).toContainText(`${PROVIDER_NAME} confirmed who you are, but you are in none of the groups that give access`);
  expect(await lastAudit("user.signin-failed")).toMatchObject({ actor: "anonymous", ip: "127.0.0.1", payload: { reason: "no-role", attemptedName: "erin" } });
  expect(await apiStatus(context)).toBe(401);
  await page.goto(`${app.url}/`);
  await expect(page).toHaveURL(`${app.url}/signin`);
  await context.close();
});

test("a sign-in cancelled at the provider comes back to the sign-in page saying so, with no session", async ({ browser }) => {
  idp.setGroups("ines", [GROUP.deployers]);
  const { context, page } = await newPage(browser);
  await page.goto(`${app.url}/signin`, { waitUntil: "networkidle" });
  await page.getByRole("button", { name: `Sign in with ${PROVIDER_NAME}` }).click();
  await page.getByRole("button", { name: "Cancel" }).click();
  await expect(page).toHaveURL(/\/signin\?.*error=(OAuth)?Callback/);
  await expect(page.getByRole("alert").filter({ hasText: "The sign-in did not complete: it was cancelled at the identity provider" })).toBeVisible();
  await expect(page.getByRole("button", { name: `Sign in with ${PROVIDER_NAME}` })).toBeVisible();
  expect(await apiStatus(context)).toBe(401);
  await context.close();
});

test("a group changed at the provider takes effect at the next sign-in; sign-out ends the session", async ({ browser }) => {
  idp.setGroups("felix", [GROUP.admins, GROUP.staff]);
  const { context, page } = await newPage(browser);
  await signInWithIdp(page, "felix");
  await expectSignedIn(page, "felix", "admin");
  const copied = (await context.cookies(app.url)).map((c) => `${c.name}=${c.value}`).join("; ");

  await signOut(page);
  expect((await fetch(`${app.url}/api/builds`, { headers: { cookie: copied } })).status).toBe(401);

  // Removed from the admins at the provider: the provider's own session stays, so no form this time.
  idp.setGroups("felix", [GROUP.staff]);
  await signInWithIdp(page, "felix", { idpForm: false });
  await expectSignedIn(page, "felix", "viewer");
  expect(await lastAudit("user.signin")).toMatchObject({ actor: "felix", payload: { method: "oidc", role: "viewer", previousRole: "admin" } });

  // Out of every group: refused at the next sign-in.
  idp.setGroups("felix", []);
  await signOut(page);
  await signInWithIdp(page, "felix", { idpForm: false });
  await expect(page).toHaveURL(/\/signin\/refused\?reason=no-role$/);
  expect(await apiStatus(context)).toBe(401);
  await context.close();
});

test("with local accounts switched off the form is gone and the credentials callback signs nobody in", async ({ browser, playwright }) => {
  const { context, page } = await newPage(browser);
  await page.goto(`${app.url}/signin`, { waitUntil: "networkidle" });
  await page.getByLabel("User").fill(ADMIN.name);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expectSignedIn(page, ADMIN.name, "admin"); // the same password works while local accounts are on
  await context.close();

  app.setAuth(auth({ local: false }));
  const fresh = await newPage(browser);
  await fresh.page.goto(`${app.url}/signin`);
  await expect(fresh.page.getByRole("button", { name: `Sign in with ${PROVIDER_NAME}` })).toBeVisible();
  await expect(fresh.page.getByLabel("Password")).toHaveCount(0);
  await expect(fresh.page.getByLabel("User")).toHaveCount(0);
  await fresh.context.close();

  const api = await playwright.request.newContext({ baseURL: app.url });
  const { csrfToken } = (await (await api.get("/api/auth/csrf")).json()) as { csrfToken: string };
  const res = await api.post("/api/auth/callback/credentials", {
    form: { csrfToken, username: ADMIN.name, password: ADMIN.password, json: "true" },
    maxRedirects: 0,
  });
  expect(res.status()).toBeLessThan(500);
  expect((await api.storageState()).cookies.map((c) => c.name)).not.toContain("next-auth.session-token");
  expect(await (await api.get("/api/auth/session")).json()).toEqual({});
  expect((await api.get("/api/builds")).status()).toBe(401);
  await api.dispose();
});

test("a session ends after the idle limit without requests", async ({ browser }) => {
  app.setAuth(auth({ session: { idleMinutes: 0.1, maxHours: 12 } })); // 6 s
  idp.setGroups("gina", [GROUP.deployers]);
  const { context, page } = await newPage(browser);
  await signInWithIdp(page, "gina");
  await expectSignedIn(page, "gina", "deployer");
  await page.waitForTimeout(7_500);
  await page.goto(`${app.url}/builds`);
  await expect(page).toHaveURL(`${app.url}/signin`);
  expect(await apiStatus(context)).toBe(401);
  await context.close();
});

test("a session ends at the absolute limit however busy it is", async ({ browser }) => {
  app.setAuth(auth({ session: { idleMinutes: 60, maxHours: 0.0025 } })); // 9 s
  idp.setGroups("hugo", [GROUP.staff]);
  const { context, page } = await newPage(browser);
  const start = Date.now();
  await signInWithIdp(page, "hugo");
  await expectSignedIn(page, "hugo", "viewer");
  // A request a second: never idle, and still signed out once 9 s have passed since sign-in.
  const statuses: number[] = [];
  await expect
    .poll(
      async () => {
        statuses.push(await apiStatus(context));
        return statuses.at(-1);
      },
      { timeout: 20_000, intervals: [1_000] },
    )
    .toBe(401);
  expect(statuses[0]).toBe(200);
  expect(Date.now() - start).toBeGreaterThanOrEqual(9_000);
  await context.close();
});
