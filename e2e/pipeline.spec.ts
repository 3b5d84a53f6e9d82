// The pipeline view: a new build goes to canary, bakes there (with a countdown), becomes eligible
// for beta, then goes to beta. The running app's config gains a short bake for this spec (the app
// re-reads its config file when it changes) and gets its own back at the end.
import { readFileSync, writeFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { parse, stringify } from "yaml";
import { installedVersion, load, publishBuild } from "./sandbox";
import { signIn } from "./fixtures/auth";
import { SANDBOX_DIR, TOKENS_FILE } from "./fixtures/env";

const NEW = "4.90.0-1+0~20261201150000.1~1.gbp900eee";

test("a build moves from canary (baking, with a countdown) to eligible, then to beta, on the pipeline view", async ({ page, request }) => {
  test.setTimeout(150_000);
  const sb = await load(SANDBOX_DIR);
  const original = readFileSync(sb.configPath, "utf8");
  const config = parse(original) as { channels: { name: string; bake?: unknown }[]; commands?: Record<string, string> };
  config.channels.find((c) => c.name === "canary")!.bake = { minutes: 0.25, healthCheck: "scap version", everySeconds: 3 };
  const { deployer } = JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as { deployer: string };
  const auth = { authorization: `Bearer ${deployer}` };
  try {
    writeFileSync(sb.configPath, stringify(config));
    await publishBuild(sb, NEW);
    await expect.poll(async () => ((await (await request.get("/api/channels", { headers: auth })).json()) as { channels: { name: string; bakeMinutes: number | null }[] }).channels.find((c) => c.name === "canary")?.bakeMinutes, { timeout: 20_000 }).toBe(0.25);
    expect((await request.post("/api/builds/refresh", { headers: auth, data: {} })).status()).toBe(200);

    await signIn(page, "deployer");
    await page.goto("/");
    const canary = page.locator("[data-testid=channel-card][data-channel=canary]");
    const beta = page.locator("[data-testid=channel-card][data-channel=beta]");
    await expect(canary.getByTestId("channel-next")).toHaveText(NEW);
    await expect(beta.getByTestId("channel-next")).toContainText(`${NEW} is not proven on canary`);

    await canary.getByTestId("promote-button").click();
    await page.getByTestId("reason").fill("e2e: pipeline");
    await page.getByTestId("confirm-deploy").click();
    await expect(page.getByTestId("deployment-status")).toHaveText("succeeded", { timeout: 45_000 });
    expect(await installedVersion(sb, sb.hosts[0]!.name)).toBe(NEW);

    await page.goto("/");
    await expect(canary.getByTestId("bake-state")).toHaveAttribute("data-status", "baking");
    await expect(canary.getByTestId("countdown")).toHaveText(/\d+ s left/);
    await expect(beta.getByTestId("promote-button")).toHaveCount(0);
    await page.screenshot({ path: test.info().outputPath("pipeline-baking.png"), fullPage: true });

    // Once the bake has passed, beta may take it: the pipeline says so after a reload.
    await expect
      .poll(
        async () => {
          await page.reload();
          return canary.getByTestId("bake-state").getAttribute("data-status");
        },
        { timeout: 60_000, intervals: [2000] },
      )
      .toBe("passed");
    await expect(beta.getByTestId("channel-next")).toHaveText(NEW);
    await beta.getByTestId("promote-button").click();
    await page.getByTestId("reason").fill("e2e: baked on canary");
    await page.getByTestId("confirm-deploy").click();
    await expect(page.getByTestId("deployment-status")).toHaveText("succeeded", { timeout: 45_000 });
    for (const h of sb.hosts) expect(await installedVersion(sb, h.name)).toBe(NEW);
    await page.goto("/");
    await expect(beta.getByTestId("channel-current")).toHaveText(NEW);
    await expect(beta.getByTestId("channel-next")).toHaveText("up to date");
  } finally {
    writeFileSync(sb.configPath, original);
  }
});

test("a frozen channel says so on every page and refuses a promotion with 409 naming who froze it", async ({ page, request }) => {
  const { admin, deployer } = JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as { admin: string; deployer: string };
  const sb = await load(SANDBOX_DIR);
  const freeze = await request.post("/api/channels/beta/freeze", { headers: { authorization: `Bearer ${admin}` }, data: { reason: "e2e: train deploy" } });
  expect(freeze.status()).toBe(200);
  try {
    expect((await request.post("/api/channels/beta/freeze", { headers: { authorization: `Bearer ${deployer}` }, data: { reason: "no" } })).status()).toBe(403);
    const before = ((await (await request.get("/api/deployments?limit=1", { headers: { authorization: `Bearer ${deployer}` } })).json()) as { deployments: { id: number }[] }).deployments[0]?.id;
    const refused = await request.post("/api/channels/beta/promote", { headers: { authorization: `Bearer ${deployer}` }, data: { version: sb.versions[0], reason: "during the freeze" } });
    expect(refused.status()).toBe(409);
    expect((await refused.json()).error.message).toMatch(/beta is frozen by e2e-admin since .*: e2e: train deploy/);
    const after = ((await (await request.get("/api/deployments?limit=1", { headers: { authorization: `Bearer ${deployer}` } })).json()) as { deployments: { id: number }[] }).deployments[0]?.id;
    expect(after).toBe(before);
    await signIn(page, "viewer");
    for (const path of ["/", "/builds", "/hosts"]) {
      await page.goto(path);
      await expect(page.getByTestId("freeze-banner")).toContainText("beta by e2e-admin: e2e: train deploy");
    }
  } finally {
    expect((await request.post("/api/channels/beta/unfreeze", { headers: { authorization: `Bearer ${admin}` }, data: {} })).status()).toBe(200);
  }
});
