import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../config-schema";
import { getDb } from "../db";
import { syncInventory } from "../fleet/inventory";
import { listHosts, versionDistribution } from "./fleet-view";
import { hostsView } from "../present";
import { useTestDatabase } from "../testing/db";
import { listChannels } from "./channels";

const V1 = "4.79.0-1+0~20261101080000.3~1.gbp000aaa";
const V2 = "4.80.0-1+0~20261120093000.1~1.gbpabc123";
const V3 = "4.81.0-1+0~20261124120000.7~1.gbpdef456";

const config = configSchema.parse({
  repository: { url: "http://127.0.0.1:1/", unsigned: true },
  ssh: { privateKeyPath: "/nonexistent/key", knownHostsPath: "/nonexistent/known_hosts" },
  hosts: ["beta01", "beta02", "beta03", "beta04", "beta05", "beta06"].map((name) => ({ name })),
  channels: [
    { name: "canary", hosts: ["beta01"] },
    { name: "beta", hosts: "all", requires: "canary" },
  ],
});

let clock = Date.parse("2026-11-25T10:00:00Z");
const tick = () => new Date((clock += 60_000));

async function observe(host: string, status: string, version: string | null, errorKind: string | null = null) {
  const h = await getDb().host.findUniqueOrThrow({ where: { name: host } });
  await getDb().hostObservation.create({ data: { hostId: h.id, status, version, errorKind, error: errorKind ? `${errorKind} error` : null, observedAt: tick() } });
}

async function deploy(channel: string, kind: "promote" | "rollback", version: string, fromVersion: string | null, status = "succeeded") {
  const c = await getDb().channel.findUniqueOrThrow({ where: { name: channel } });
  const at = tick();
  await getDb().deployment.create({
    data: { kind, channelId: c.id, version, fromVersion, status, reason: "test", actorName: "tester", source: "cli", batchSize: 1, maxFailures: 0, createdAt: at, startedAt: at, finishedAt: at },
  });
}

async function channel(name: string) {
  return (await listChannels()).find((c) => c.name === name)!;
}

async function host(name: string) {
  return (await listHosts()).find((h) => h.name === name)!;
}

beforeAll(async () => {
  useTestDatabase();
  await syncInventory(config);
  // History: beta02 ran V1 before V2; only the newest observation counts.
  await observe("beta02", "ok", V1);
  await observe("beta01", "ok", V1);
  await observe("beta02", "ok", V2);
  await observe("beta03", "ok", V2);
  await observe("beta04", "not-installed", null);
  await observe("beta05", "ok", V2);
  await observe("beta05", "unreachable", null, "refused");
});

describe("channel state without deployments", () => {
  it("takes the version most hosts of the channel run", async () => {
    const channels = await listChannels();
    expect(channels.map((c) => c.name)).toEqual(["canary", "beta"]);
    expect(channels[0]).toMatchObject({ name: "canary", hosts: ["beta01"], currentVersion: V1, currentSource: "observed", previousVersion: null, drift: 0, unverified: 0 });
    expect(channels[1]).toMatchObject({
      name: "beta",
      hosts: ["beta01", "beta02", "beta03", "beta04", "beta05", "beta06"],
      requires: "canary",
      currentVersion: V2,
      currentSource: "observed",
      previousVersion: null,
      // beta01 (V1) and beta04 (not installed); beta05 (unreachable) and beta06 (never probed) are unverified.
      drift: 2,
      unverified: 2,
    });
  });

  it("lists hosts with their newest observation, drift and majority", async () => {
    const hosts = await listHosts();
    expect(hosts.map((h) => h.name)).toEqual(["beta01", "beta02", "beta03", "beta04", "beta05", "beta06"]);
    expect(hosts[0]).toMatchObject({ name: "beta01", channels: ["canary", "beta"], version: V1, status: "ok", drift: { channel: "beta", expected: V2 }, offMajority: true });
    expect(hosts[1]).toMatchObject({ name: "beta02", channels: ["beta"], version: V2, status: "ok", drift: null, offMajority: false });
    expect(hosts[3]).toMatchObject({ name: "beta04", version: null, status: "not-installed", drift: { channel: "beta", expected: V2 }, offMajority: true });
    expect(hosts[4]).toMatchObject({ name: "beta05", version: null, status: "unreachable", errorKind: "refused", error: "refused error", drift: null, offMajority: false });
    expect(hosts[5]).toMatchObject({ name: "beta06", version: null, status: "unknown", errorKind: null, observedAt: null, drift: null, offMajority: false });
    expect(hosts[1]!.observedAt).toBeInstanceOf(Date);
  });

  it("keeps what an unreachable or unknown host last ran", async () => {
    const hosts = Object.fromEntries((await listHosts()).map((h) => [h.name, h]));
    expect(hosts.beta05!.lastKnown).toEqual({ version: V2, status: "ok", observedAt: expect.any(Date) });
    expect(hosts.beta05!.lastKnown!.observedAt.getTime()).toBeLessThan(hosts.beta05!.observedAt!.getTime());
    expect(hosts.beta04!.lastKnown).toMatchObject({ version: null, status: "not-installed" });
    expect(hosts.beta02!.lastKnown).toEqual({ version: V2, status: "ok", observedAt: hosts.beta02!.observedAt });
    expect(hosts.beta06!.lastKnown).toBeNull();
    // Clients get ISO dates.
    const view = (await hostsView()).find((h) => h.name === "beta05")!;
    expect(view.lastKnown).toEqual({ version: V2, status: "ok", observedAt: hosts.beta05!.lastKnown!.observedAt.toISOString() });
  });

  it("counts hosts per version and status", async () => {
    expect(await versionDistribution()).toEqual([
      { version: V2, status: "ok", hosts: 2 },
      { version: V1, status: "ok", hosts: 1 },
      { version: null, status: "not-installed", hosts: 1 },
      { version: null, status: "unreachable", hosts: 1 },
      { version: null, status: "unknown", hosts: 1 },
    ]);
  });
});

describe("channel state from deployments", () => {
  it("follows the latest succeeded deployment and lets canary run ahead of beta", async () => {
    await deploy("canary", "promote", V3, V1);
    await observe("beta01", "ok", V3);
    // A first promotion: what it replaced is the version to go back to.
    expect(await channel("canary")).toMatchObject({ currentVersion: V3, currentSource: "deployment", previousVersion: V1, drift: 0 });
    // beta01 runs what canary's deployment put there: not drift in beta.
    expect(await channel("beta")).toMatchObject({ currentVersion: V2, currentSource: "observed", drift: 1 });
    expect((await host("beta01")).drift).toBeNull();
  });

  it("never offers the build a rollback left as the previous version, and ignores failed runs", async () => {
    await deploy("beta", "promote", V2, V2);
    await deploy("beta", "promote", V3, V2);
    await deploy("beta", "rollback", V2, V3);
    await deploy("beta", "promote", V3, V2, "failed");
    await deploy("beta", "promote", V3, V2, "running");
    const beta = await channel("beta");
    expect(beta).toMatchObject({ currentVersion: V2, currentSource: "deployment", previousVersion: null });
    // The rollback came after canary's promotion: beta01 should run V2 again.
    expect((await host("beta01")).drift).toEqual({ channel: "beta", expected: V2 });
    expect(beta.drift).toBe(2);
  });

  it("shows canary on the version a later deployment of beta put on its hosts", async () => {
    // beta's rollback took beta01 back to V2; canary's own V3 was rolled back with it.
    expect(await channel("canary")).toMatchObject({ currentVersion: V2, currentSource: "deployment", previousVersion: null, drift: 1 });
    await observe("beta01", "ok", V2);
    expect(await channel("canary")).toMatchObject({ currentVersion: V2, drift: 0 });
    expect((await host("beta01")).drift).toBeNull();
  });

  it("skips repeats of the current version when naming the previous one", async () => {
    await deploy("canary", "promote", V1, V2);
    await deploy("canary", "promote", V2, V1);
    await deploy("canary", "promote", V2, V2);
    expect(await channel("canary")).toMatchObject({ currentVersion: V2, previousVersion: V1 });
    // A narrower channel's deployment does not move the wider one.
    expect(await channel("beta")).toMatchObject({ currentVersion: V2, previousVersion: null });
  });
});

describe("rollback target", () => {
  beforeEach(async () => {
    useTestDatabase();
    await syncInventory(config);
  });

  it("goes back past a rolled-back build to the good version before it", async () => {
    await deploy("beta", "promote", V1, null);
    await deploy("beta", "promote", V2, V1);
    await deploy("beta", "promote", V3, V2);
    expect(await channel("beta")).toMatchObject({ currentVersion: V3, previousVersion: V2 });
    await deploy("beta", "rollback", V2, V3);
    expect(await channel("beta")).toMatchObject({ currentVersion: V2, previousVersion: V1 });
  });

  it("takes the version a first promotion replaced", async () => {
    await deploy("beta", "promote", V2, V1);
    expect(await channel("beta")).toMatchObject({ currentVersion: V2, currentSource: "deployment", previousVersion: V1 });
  });

  it("is null when history knows no other version", async () => {
    await deploy("beta", "promote", V2, null);
    expect((await channel("beta")).previousVersion).toBeNull();
    await deploy("beta", "promote", V2, V2);
    expect((await channel("beta")).previousVersion).toBeNull();
  });

  it("offers a build again once it was promoted again after its rollback", async () => {
    await deploy("beta", "promote", V2, V1);
    await deploy("beta", "promote", V3, V2);
    await deploy("beta", "rollback", V2, V3);
    await deploy("beta", "promote", V3, V2);
    expect(await channel("beta")).toMatchObject({ currentVersion: V3, previousVersion: V2 });
    await deploy("beta", "promote", V1, V3);
    expect(await channel("beta")).toMatchObject({ currentVersion: V1, previousVersion: V3 });
  });
});
