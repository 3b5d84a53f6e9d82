import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { hangHost, installedVersion, load, setInstalled, startHost } from "./sandbox";
import { signIn } from "./fixtures/auth";
import { SANDBOX_DIR, TOKENS_FILE } from "./fixtures/env";

test("the hosts page shows every sandbox host and a refresh picks up a change made behind its back", async ({ page }) => {
  const sandbox = await load(SANDBOX_DIR);
  await signIn(page, "deployer");
  await page.goto("/hosts");
  await page.getByRole("button", { name: "Refresh hosts" }).click();
  await expect(page.getByTestId("hosts-refresh-result")).toContainText(`Probed ${sandbox.hosts.length} hosts`);
  await expect(page.getByTestId("host-row")).toHaveCount(sandbox.hosts.length);
  for (const h of sandbox.hosts) {
    const row = page.locator(`[data-testid=host-row][data-host="${h.name}"]`);
    await expect(row.getByTestId("host-version")).toHaveText((await installedVersion(sandbox, h.name)) ?? "—");
    await expect(row.getByTestId("host-status")).toHaveText("ok");
  }

  const target = sandbox.hosts[sandbox.hosts.length - 1]!;
  const newest = sandbox.versions[sandbox.versions.length - 1]!;
  await setInstalled(sandbox, target.name, newest);
  await page.getByRole("button", { name: "Refresh hosts" }).click();
  const row = page.locator(`[data-testid=host-row][data-host="${target.name}"]`);
  await expect(row.getByTestId("host-version")).toHaveText(newest);
  await expect(row.getByTestId("host-drift")).toBeVisible();
  await expect(page.getByTestId("version-bar").filter({ hasText: newest })).toContainText("1 host");
});

test("a probe stuck on a hanging host never blocks the pages, and the host ends unreachable at the connect timeout", async ({ page, context }) => {
  const sandbox = await load(SANDBOX_DIR);
  const stuck = sandbox.hosts[1]!.name;
  await hangHost(sandbox, stuck);
  try {
    await signIn(page, "deployer");
    await page.goto("/hosts");
    await page.getByRole("button", { name: "Refresh hosts" }).click();
    await expect(page.getByRole("button", { name: /^Probing… \d+\/\d+$/ })).toBeVisible();

    const other = await context.newPage();
    const t0 = Date.now();
    await other.goto("/hosts");
    await expect(other.getByTestId("host-row")).toHaveCount(sandbox.hosts.length);
    expect(Date.now() - t0).toBeLessThan(2500);
    await other.goto("/");
    await expect(other.getByRole("heading", { level: 1, name: "Overview" })).toBeVisible();
    await other.close();

    const row = page.locator(`[data-testid=host-row][data-host="${stuck}"]`);
    await expect(row.getByTestId("host-status")).toHaveText("unreachable", { timeout: 20_000 });
    await expect(row).toContainText("no SSH handshake within 5s");
  } finally {
    await startHost(sandbox, stuck);
  }
});

test("an open hosts page follows what a refresh elsewhere read, without reloading", async ({ page, request }) => {
  const sandbox = await load(SANDBOX_DIR);
  const { deployer } = JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as { deployer: string };
  const target = sandbox.hosts[0]!;
  const before = await installedVersion(sandbox, target.name);
  const other = sandbox.versions.find((v) => v !== before)!;
  await signIn(page, "viewer");
  await page.goto("/hosts");
  // What the reader typed stays: the page is updated in place, not loaded again.
  const filter = page.getByRole("searchbox");
  await filter.fill(target.name);
  const row = page.locator(`[data-testid=host-row][data-host="${target.name}"]`);
  await expect(row.getByTestId("host-version")).toHaveText(before ?? "—");
  await setInstalled(sandbox, target.name, other);
  try {
    expect((await request.post("/api/hosts/refresh", { headers: { authorization: `Bearer ${deployer}` }, data: {} })).status()).toBe(200);
    await expect(row.getByTestId("host-version")).toHaveText(other, { timeout: 12_000 });
    await expect(filter).toHaveValue(target.name);
  } finally {
    await setInstalled(sandbox, target.name, before);
    // A fresh connection: the one used above may have been closed by the server meanwhile (keep-alive).
    await fetch(new URL("/api/hosts/refresh", page.url()), { method: "POST", headers: { authorization: `Bearer ${deployer}`, "content-type": "application/json" }, body: "{}" });
  }
});
