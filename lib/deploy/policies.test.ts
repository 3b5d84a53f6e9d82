// Channel policies against a real sandbox: canary follows new builds by itself, builds bake there
// before beta may take them, a failed bake rolls canary back, a frozen channel refuses. The truth is
// read on each host with dpkg-query (installedVersion).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installedVersion, publishBuild } from "../../e2e/sandbox";
import { refreshBuilds } from "../apt/refresh";
import type { Actor } from "../audit/log";
import { configSchema, type AppConfig } from "../config-schema";
import { getDb } from "../db";
import { syncInventory } from "../fleet/inventory";
import { probeHosts } from "../fleet/probe";
import { closeFleetTransport } from "../fleet/ssh";
import { startSandbox, type FleetSandbox } from "../fleet/testing";
import { useTestDatabase } from "../testing/db";
import { getChannel } from "./channels";
import { setFollowPaused } from "./follow";
import { freezeChannel, unfreezeChannel } from "./freeze";
import { planDeployment } from "./plan";
import { runPolicies } from "./policies";
import { promoteBuild } from "./promote";
import { waitForRunner } from "./run";

const ADMIN: Actor = { id: null, name: "ada", source: "ui", role: "admin" };
const DEPLOYER: Actor = { id: null, name: "dana", source: "ui", role: "deployer" };
const NEW = ["4.82.0-1+0~20261201100000.1~1.gbp820aaa", "4.83.0-1+0~20261201110000.1~1.gbp830bbb", "4.84.0-1+0~20261201120000.1~1.gbp840ccc", "4.85.0-1+0~20261201130000.1~1.gbp850ddd"];

let fx: FleetSandbox;
let config: AppConfig;
let H: string[];

function withPolicies(healthCheck: string): AppConfig {
  const raw = {
    ...fx.config,
    commands: { ...fx.config.commands, healthCheck: undefined },
    channels: [
      { name: "canary", hosts: [H[0]], follow: "newest", bake: { minutes: 0.05, healthCheck, everySeconds: 1 }, onBakeFailure: "rollback" },
      { name: "beta", hosts: "all", requires: "canary", batchSize: 3, maxFailures: 0 },
    ],
  };
  return configSchema.parse(JSON.parse(JSON.stringify(raw)));
}

async function versions() {
  return Promise.all(H.map((h) => installedVersion(fx.sb, h)));
}

/** Runs the policies until `done` says so, letting deployments they start finish. */
async function until(done: () => Promise<boolean>, c: AppConfig = config, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await runPolicies(c);
    for (const d of await getDb().deployment.findMany({ where: { status: { in: ["queued", "running"] } }, select: { id: true } })) await waitForRunner(d.id);
    if (await done()) return;
    if (Date.now() > deadline) {
      const state = { bakes: await getDb().bake.findMany(), deployments: await getDb().deployment.findMany({ select: { id: true, kind: true, version: true, status: true, error: true } }) };
      throw new Error(`timed out waiting for the policies: ${JSON.stringify(state)}`);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function publishAndRead(version: string) {
  await publishBuild(fx.sb, version);
  const r = await refreshBuilds(config.repository, ADMIN);
  expect(r).toMatchObject({ ok: true, added: [version] });
}

beforeAll(async () => {
  useTestDatabase();
  fx = await startSandbox(3);
  H = fx.sb.hosts.map((h) => h.name);
  config = withPolicies("scap version");
  await syncInventory(config);
  await refreshBuilds(config.repository, ADMIN);
  await probeHosts(config, ADMIN);
});

afterAll(async () => {
  await closeFleetTransport();
  await fx?.stop();
});

describe("follow: newest, bake, gate", () => {
  it("a new build is promoted to the following channel by itself, bakes there, then beta may take it", async () => {
    const before = await versions();
    await publishAndRead(NEW[0]!);
    await until(async () => (await getChannel("canary"))?.currentVersion === NEW[0]);
    const d = await getDb().deployment.findFirstOrThrow({ where: { version: NEW[0] }, include: { channel: true } });
    expect(d).toMatchObject({ actorName: "system", source: "system", reason: `new build ${NEW[0]} published`, status: "succeeded" });
    expect(d.channel.name).toBe("canary");
    expect(await versions()).toEqual([NEW[0], before[1], before[2]]);

    // Baking: beta refuses it until the bake has passed.
    const early = await planDeployment(config, "beta", NEW[0]!);
    expect(early.refusals.map((r) => r.code)).toEqual(["gate"]);
    expect(early.gate.message).toMatch(/not finished baking on canary/);
    await until(async () => (await getDb().bake.findFirstOrThrow({ where: { version: NEW[0] } })).status === "passed");
    const bake = await getDb().bake.findFirstOrThrow({ where: { version: NEW[0] } });
    expect(bake.checks).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(bake.lastResults)).toEqual([{ host: H[0], ok: true, exitCode: 0, error: null }]);
    expect((await planDeployment(config, "beta", NEW[0]!)).refusals).toEqual([]);
    expect(await getDb().auditEvent.count({ where: { action: "bake.passed" } })).toBe(1);
  });

  it("two builds published back to back end with the newest on canary, one deployment at a time", async () => {
    await publishAndRead(NEW[1]!);
    await runPolicies(config);
    await publishAndRead(NEW[2]!);
    await until(async () => (await getChannel("canary"))?.currentVersion === NEW[2]);
    const mine = await getDb().deployment.findMany({ where: { version: { in: [NEW[1]!, NEW[2]!] }, actorName: "system" }, orderBy: { id: "asc" } });
    expect(mine.map((d) => [d.version, d.status])).toEqual([
      [NEW[1], "succeeded"],
      [NEW[2], "succeeded"],
    ]);
    expect(mine[0]!.finishedAt!.getTime()).toBeLessThanOrEqual(mine[1]!.startedAt!.getTime());
    expect(await installedVersion(fx.sb, H[0]!)).toBe(NEW[2]);
    // The superseded build's bake ended with the newer one's deployment.
    expect((await getDb().bake.findFirstOrThrow({ where: { version: NEW[1] } })).status).toBe("superseded");
    await until(async () => (await getDb().bake.findFirstOrThrow({ where: { version: NEW[2] } })).status === "passed");
  });

  it("a failing health check during the bake marks the build failed, blocks beta and rolls canary back", async () => {
    const failing = withPolicies("echo 'scap is broken' >&2; exit 1");
    await publishBuild(fx.sb, NEW[3]!);
    await refreshBuilds(failing.repository, ADMIN);
    await until(async () => (await getDb().bake.findFirst({ where: { version: NEW[3] } }))?.status === "failed" && (await getChannel("canary"))?.currentVersion === NEW[2], failing);
    const bake = await getDb().bake.findFirstOrThrow({ where: { version: NEW[3] } });
    expect(bake.error).toMatch(/scap is broken/);
    const rollback = await getDb().deployment.findFirstOrThrow({ where: { kind: "rollback" }, orderBy: { id: "desc" } });
    expect(rollback).toMatchObject({ actorName: "system", version: NEW[2], status: "succeeded", reason: expect.stringMatching(/^bake of .* failed/) });
    expect(await installedVersion(fx.sb, H[0]!)).toBe(NEW[2]);
    const beta = await planDeployment(failing, "beta", NEW[3]!);
    expect(beta.refusals.map((r) => r.code)).toEqual(["gate"]);
    // It failed there: following never tries it again.
    const count = await getDb().deployment.count({ where: { version: NEW[3] } });
    await runPolicies(failing);
    expect(await getDb().deployment.count({ where: { version: NEW[3] } })).toBe(count);
  });
});

describe("pause and freeze", () => {
  it("a paused channel does not follow; only an admin pauses it", async () => {
    await expect(setFollowPaused(DEPLOYER, "canary", true)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await setFollowPaused(ADMIN, "canary", true);
    const n = await getDb().deployment.count();
    await getDb().bake.updateMany({ where: { version: NEW[3] }, data: { status: "superseded" } });
    await getDb().deployment.deleteMany({ where: { version: NEW[3] } });
    await runPolicies(config);
    expect(await getDb().deployment.count()).toBe(n - 1);
    await setFollowPaused(ADMIN, "canary", false);
  });

  it("a frozen channel refuses promotions with 409 naming who froze it and why, and runs nothing; an admin may override", async () => {
    await expect(freezeChannel(DEPLOYER, "beta", { reason: "deployment window" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await freezeChannel(ADMIN, "beta", { reason: "train deploy in progress" });
    const n = await getDb().deployment.count();
    await expect(promoteBuild(config, DEPLOYER, "beta", { version: NEW[0]!, reason: "try" })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringMatching(/beta is frozen by ada since .*: train deploy in progress/),
    });
    await expect(promoteBuild(config, DEPLOYER, "beta", { version: NEW[0]!, reason: "try", override: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await getDb().deployment.count()).toBe(n);
    const started = await promoteBuild(config, ADMIN, "beta", { version: NEW[0]!, reason: "hotfix during the window", override: true });
    await waitForRunner(started.id);
    expect(await getDb().deployment.findUniqueOrThrow({ where: { id: started.id } })).toMatchObject({ status: "succeeded", override: true });
    expect(await versions()).toEqual([NEW[0], NEW[0], NEW[0]]);
    await unfreezeChannel(ADMIN, "beta");
    await expect(unfreezeChannel(ADMIN, "beta")).rejects.toMatchObject({ code: "CONFLICT" });
    expect((await getDb().auditEvent.findMany({ where: { action: { in: ["channel.freeze", "channel.unfreeze"] } } })).map((e) => e.action)).toEqual(["channel.freeze", "channel.unfreeze"]);
  });
});
