import { expect, test } from "@playwright/test";
import { signIn } from "./fixtures/auth";

test("a visitor who is not signed in is sent to the sign-in page", async ({ page }) => {
  await page.goto("/hosts");
  await expect(page).toHaveURL(/\/signin$/);
  await expect(page.getByRole("heading", { name: "Sign in to Scap Channels" })).toBeVisible();
});

test("a wrong password is refused", async ({ page }) => {
  await page.goto("/signin");
  await page.getByLabel("User").fill("e2e-admin");
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Wrong user name or password." })).toBeVisible();
  await expect(page).toHaveURL(/\/signin$/);
});

test("every page of the shell opens from the navigation", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "admin");
  await expect(page.getByText("admin", { exact: true })).toBeVisible();
  for (const [link, heading] of [
    ["Builds", "Builds"],
    ["Hosts", "Hosts"],
    ["Deployments", "Deployments"],
    ["Audit", "Audit"],
    ["Overview", "Overview"],
  ] as const) {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link }).click();
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link })).toHaveAttribute("aria-current", "page");
  }
  expect(errors).toEqual([]);
});

test("the shell fits a phone screen and switches to the dark theme", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, "viewer");
  await page.goto("/hosts");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.getByRole("button", { name: "Switch light/dark theme" }).click();
  await expect(page.locator("html")).toHaveClass(/dark/);
  await page.reload();
  await expect(page.locator("html")).toHaveClass(/dark/);
});

test("a viewer sees refresh controls disabled with the reason, and the server refuses anyway", async ({ page, baseURL }) => {
  await signIn(page, "viewer");
  await page.goto("/builds");
  const button = page.getByRole("button", { name: "Refresh builds" });
  await expect(button).toBeDisabled();
  await expect(button).toHaveAttribute("title", /viewer.*builds\.refresh/);
  const res = await page.request.post("/api/builds/refresh", { data: {}, headers: { origin: baseURL! } });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.message).toBe("Your role (viewer) lacks the builds.refresh permission.");
});

test("a signed-in browser's change from another site is refused", async ({ page }) => {
  await signIn(page, "admin");
  const res = await page.request.post("/api/hosts/refresh", { data: {}, headers: { origin: "https://evil.example" } });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.message).toMatch(/^Cross-origin request refused/);
  const silent = await page.request.post("/api/hosts/refresh", { data: {} });
  expect(silent.status()).toBe(403);
});

test("the API answers 401 without a session or token, and health is public", async ({ request }) => {
  const res = await request.get("/api/builds");
  expect(res.status()).toBe(401);
  expect((await res.json()).error.code).toBe("UNAUTHORIZED");
  const bad = await request.get("/api/hosts", { headers: { authorization: "Bearer sct_not-a-real-token" } });
  expect(bad.status()).toBe(401);
  const health = await request.get("/api/health");
  expect(health.status()).toBe(200);
  const body = await health.json();
  expect(body.database.ok).toBe(true);
  expect(body.config.status).toBe("ok");
});
