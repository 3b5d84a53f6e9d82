import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { installedVersion, load } from "./sandbox";
import { signIn } from "./fixtures/auth";
import { SANDBOX_DIR, TOKENS_FILE, USERS } from "./fixtures/env";

async function confirmIn(page: Page, reason: string) {
  const dialog = page.getByTestId("deploy-dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId("plan")).toBeVisible();
  await dialog.getByTestId("reason").fill(reason);
  await dialog.getByTestId("confirm-deploy").click();
  await expect(page).toHaveURL(/\/deployments\/\d+$/);
  await expect(page.getByTestId("deployment-status")).toHaveText("succeeded", { timeout: 45_000 });
  return Number(new URL(page.url()).pathname.split("/").pop());
}

test("a deployer promotes the newest build to canary, then to beta, then rolls beta back, and sees each step recorded", async ({ page }) => {
  test.setTimeout(150_000);
  const sb = await load(SANDBOX_DIR);
  const hosts = sb.hosts.map((h) => h.name);
  const newest = sb.versions[sb.versions.length - 1]!;
  const before = await installedVersion(sb, hosts[1]!);
  expect(before).not.toBe(newest);
  await signIn(page, "deployer");

  // Builds → Promote to canary: the dialog shows the plan before anything runs.
  await page.goto("/builds");
  const row = page.locator(`[data-testid=build-row][data-version="${newest}"]`);
  await expect(row.locator('[data-testid=promote-button][data-channel="beta"]')).toBeDisabled();
  await expect(row.locator('[data-testid=promote-button][data-channel="beta"]')).toHaveAttribute("title", /requires canary/);
  await row.locator('[data-testid=promote-button][data-channel="canary"]').click();
  await expect(page.getByTestId("plan-summary")).toContainText("1 host(s) change");
  await expect(page.getByTestId("plan-host")).toHaveCount(1);
  const canaryId = await confirmIn(page, "e2e: new build to canary");
  await expect(page.getByTestId("sal-line")).toHaveText(`!log ${USERS.deployer.name}: Upgrading scap to ${newest} in beta cluster (canary): e2e: new build to canary`);
  await expect(page.getByTestId("target-row")).toHaveCount(1);
  await expect(page.getByTestId("target-row").first()).toHaveAttribute("data-status", "succeeded");
  expect(await installedVersion(sb, hosts[0]!)).toBe(newest);
  for (const h of hosts.slice(1)) expect(await installedVersion(sb, h)).toBe(before);

  // Channel page of beta → Promote newest build: now past the gate.
  await page.goto("/channels/beta");
  await page.getByTestId("promote-button").click();
  await expect(page.getByTestId("plan-summary")).toContainText(`${hosts.length - 1} host(s) change, 1 already run it`);
  const betaId = await confirmIn(page, "e2e: canary looks good");
  await expect(page.getByTestId("target-row")).toHaveCount(hosts.length);
  await expect(page.getByTestId("progress-text")).toContainText(`${hosts.length}/${hosts.length} hosts done · ${hosts.length} succeeded`);
  for (const h of hosts) expect(await installedVersion(sb, h)).toBe(newest);

  // Roll beta back from its channel page: to the version it ran before.
  await page.goto("/channels/beta");
  await expect(page.getByTestId("channel-current")).toHaveText(newest);
  await expect(page.getByTestId("channel-previous")).toHaveText(before!);
  await page.getByTestId("rollback-button").click();
  const rollbackId = await confirmIn(page, "e2e: roll back");
  await expect(page.getByTestId("sal-line")).toContainText(`Rolling back scap to ${before} in beta cluster (beta)`);
  for (const h of hosts) expect(await installedVersion(sb, h)).toBe(before);

  // Each step on the channel page, the deployments list and the audit log.
  await page.goto("/channels/beta");
  await expect(page.getByTestId("channel-current")).toHaveText(before!);
  await expect(page.getByTestId("history-row").first()).toContainText("e2e: roll back");
  await page.goto("/deployments");
  for (const id of [canaryId, betaId, rollbackId]) await expect(page.locator(`[data-testid=deployment-row][data-id="${id}"]`)).toContainText("succeeded");
  await page.goto("/deployments?channel=canary");
  await expect(page.locator(`[data-testid=deployment-row][data-id="${canaryId}"]`)).toBeVisible();
  await expect(page.locator(`[data-testid=deployment-row][data-id="${betaId}"]`)).toHaveCount(0);
  await page.goto("/audit?action=deployment.start");
  for (const reason of ["e2e: new build to canary", "e2e: canary looks good", "e2e: roll back"]) await expect(page.locator("main")).toContainText(reason);
});

test("a viewer sees the promote and roll back buttons greyed with the reason", async ({ page }) => {
  await signIn(page, "viewer");
  await page.goto("/builds");
  const buttons = page.getByTestId("promote-button");
  expect(await buttons.count()).toBeGreaterThan(0);
  for (const b of await buttons.all()) {
    await expect(b).toBeDisabled();
    await expect(b).toHaveAttribute("title", /lacks the channels\.promote permission/);
  }
  await page.goto("/channels/beta");
  await expect(page.getByTestId("rollback-button")).toBeDisabled();
  await expect(page.getByTestId("rollback-disabled-reason")).toContainText("lacks the channels.rollback permission");
});

test("the API refuses bad input before any host is touched, and answers a deployment's record", async ({ request }) => {
  const { deployer, viewer } = JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as { deployer: string; viewer: string };
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });
  const bad = await request.post("/api/channels/canary/promote", { headers: auth(deployer), data: { version: "1.0;touch /tmp/x", reason: "x" } });
  expect(bad.status()).toBe(400);
  expect((await bad.json()).error.code).toBe("BAD_REQUEST");
  const noReason = await request.post("/api/channels/canary/promote", { headers: auth(deployer), data: { version: "1.0-1" } });
  expect(noReason.status()).toBe(400);
  const unknownChannel = await request.post("/api/channels/nope/promote", { headers: auth(deployer), data: { version: "1.0-1", reason: "x" } });
  expect(unknownChannel.status()).toBe(404);
  const unknownBuild = await request.post("/api/channels/canary/promote", { headers: auth(deployer), data: { version: "1.0-1", reason: "x" } });
  expect(unknownBuild.status()).toBe(404);
  const forbidden = await request.post("/api/channels/canary/rollback", { headers: auth(viewer), data: { reason: "x" } });
  expect(forbidden.status()).toBe(403);
  const list = await (await request.get("/api/deployments?limit=1", { headers: auth(viewer) })).json();
  const id = list.deployments[0].id as number;
  const one = await (await request.get(`/api/deployments/${id}`, { headers: auth(viewer) })).json();
  expect(one).toMatchObject({ id, status: "succeeded", kind: "rollback", channel: "beta", salLine: expect.stringMatching(/^!log /) });
  expect(one.targets[0]).toEqual(
    expect.objectContaining({ host: expect.any(String), batch: 0, fromVersion: expect.any(String), toVersion: one.version, status: "succeeded", exitCode: 0, output: expect.any(String) }),
  );
  const events = await request.get(`/api/deployments/${id}/events`, { headers: auth(viewer) });
  expect(events.headers()["content-type"]).toContain("text/event-stream");
  const text = await events.text();
  expect(text).toContain("event: state");
  expect(text).toContain('event: end\ndata: {"status":"succeeded"}');
  expect((await request.get(`/api/deployments/999999`, { headers: auth(viewer) })).status()).toBe(404);
});
