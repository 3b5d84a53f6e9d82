import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { getConfig, getConfigState, watchConfigFile } from "../config";
import { configSchema, type AppConfig } from "../config-schema";
import { getDb } from "../db";
import { useTestDatabase } from "../testing/db";
import { listChannels } from "../deploy/channels";
import { listHosts } from "../deploy/fleet-view";
import { ensureInventorySynced, keepInventoryInSync, syncInventory } from "./inventory";

function makeConfig(hosts: { name: string; address?: string; port?: number }[], channels: unknown[]): AppConfig {
  return configSchema.parse({
    repository: { url: "http://127.0.0.1:1/", unsigned: true },
    ssh: { privateKeyPath: "/nonexistent/key", knownHostsPath: "/nonexistent/known_hosts" },
    hosts,
    channels,
  });
}

const base = () =>
  makeConfig(
    [{ name: "beta01", address: "127.0.5.1" }, { name: "beta02", address: "127.0.5.2" }, { name: "beta03" }],
    [
      { name: "canary", hosts: ["beta01"] },
      { name: "beta", hosts: "all", requires: "canary", maxFailures: 1 },
    ],
  );

async function syncEvents() {
  return getDb().auditEvent.findMany({ where: { action: "inventory.sync" }, orderBy: { id: "asc" } });
}

async function membership() {
  const rows = await getDb().channel.findMany({ include: { hosts: { include: { host: true } } }, orderBy: { position: "asc" } });
  return Object.fromEntries(rows.map((c) => [c.name, { inConfig: c.inConfig, hosts: c.hosts.map((m) => m.host.name).sort() }]));
}

beforeAll(() => {
  useTestDatabase();
});

describe("syncInventory", () => {
  it("creates hosts and channels from the config, with one audit event", async () => {
    const r = await syncInventory(base());
    expect(r).toMatchObject({ changed: true, added: ["beta01", "beta02", "beta03"], removed: [], channels: ["canary", "beta"] });
    const hosts = await getDb().host.findMany({ orderBy: { name: "asc" } });
    expect(hosts.map((h) => [h.name, h.address, h.port, h.inInventory])).toEqual([
      ["beta01", "127.0.5.1", 22, true],
      ["beta02", "127.0.5.2", 22, true],
      ["beta03", "beta03", 22, true],
    ]);
    const channels = await getDb().channel.findMany({ orderBy: { position: "asc" } });
    expect(channels.map((c) => [c.name, c.position, c.requires, c.allHosts, c.batchSize, c.maxFailures])).toEqual([
      ["canary", 0, null, false, 1, 0],
      ["beta", 1, "canary", true, 1, 1],
    ]);
    expect(await membership()).toEqual({
      canary: { inConfig: true, hosts: ["beta01"] },
      beta: { inConfig: true, hosts: ["beta01", "beta02", "beta03"] },
    });
    const events = await syncEvents();
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.payload)).toEqual({ added: ["beta01", "beta02", "beta03"], removed: [], updated: [], channels: ["canary", "beta"] });
  });

  it("is idempotent: an unchanged config writes nothing", async () => {
    const r = await syncInventory(base());
    expect(r.changed).toBe(false);
    expect(await syncEvents()).toHaveLength(1);
  });

  it("skips the database entirely for a config object already synced", async () => {
    const config = base();
    expect(await ensureInventorySynced(config)).not.toBeNull();
    expect(await ensureInventorySynced(config)).toBeNull();
  });

  it("marks removed hosts and channels, keeps their rows, and follows address changes", async () => {
    const config = makeConfig(
      [{ name: "beta01", address: "127.0.5.1" }, { name: "beta02", address: "127.0.5.22", port: 2222 }, { name: "beta04" }],
      [{ name: "beta", hosts: "all", batchSize: 2 }],
    );
    const r = await syncInventory(config);
    expect(r).toMatchObject({ changed: true, added: ["beta04"], removed: ["beta03"], updated: ["beta02"] });
    expect(r.channels.sort()).toEqual(["beta", "canary"]);
    const hosts = await getDb().host.findMany({ orderBy: { name: "asc" } });
    expect(hosts.map((h) => [h.name, h.address, h.port, h.inInventory])).toEqual([
      ["beta01", "127.0.5.1", 22, true],
      ["beta02", "127.0.5.22", 2222, true],
      ["beta03", "beta03", 22, false],
      ["beta04", "beta04", 22, true],
    ]);
    expect(await membership()).toEqual({
      beta: { inConfig: true, hosts: ["beta01", "beta02", "beta04"] },
      canary: { inConfig: false, hosts: [] },
    });
    expect(await syncEvents()).toHaveLength(2);
    expect((await syncInventory(config)).changed).toBe(false);
  });

  it("brings a host and a channel back", async () => {
    const r = await syncInventory(base());
    expect(r.added.sort()).toEqual(["beta03"]);
    expect(r.removed).toEqual(["beta04"]);
    expect(await membership()).toEqual({
      canary: { inConfig: true, hosts: ["beta01"] },
      beta: { inConfig: true, hosts: ["beta01", "beta02", "beta03"] },
    });
    expect((await getDb().host.findUnique({ where: { name: "beta03" } }))?.inInventory).toBe(true);
  });

  it("survives concurrent calls", async () => {
    const config = makeConfig([{ name: "x1" }, { name: "x2" }], [{ name: "all", hosts: "all" }]);
    const results = await Promise.all([syncInventory(config), syncInventory(config), syncInventory(config)]);
    expect(results.filter((r) => r.changed)).toHaveLength(1);
  });
});

describe("following the config file", () => {
  const until = async (done: () => Promise<boolean>) => {
    const deadline = Date.now() + 5000;
    while (!(await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  const hostsInInventory = async () => (await getDb().host.findMany({ where: { inInventory: true }, orderBy: { name: "asc" } })).map((h) => h.name);

  function configFile() {
    const dir = mkdtempSync(path.join(os.tmpdir(), "scap-inventory-"));
    const file = path.join(dir, "config.yaml");
    let mtime = 1_000_000;
    const write = (hosts: string[]) => {
      writeFileSync(
        file,
        [
          "repository: { url: 'http://127.0.0.1:1/', unsigned: true }",
          "ssh: { privateKeyPath: id_ed25519, knownHostsPath: known_hosts }",
          `hosts: [${hosts.map((h) => `{ name: ${JSON.stringify(h)} }`).join(", ")}]`,
          "channels: [{ name: beta, hosts: all }]",
          "",
        ].join("\n"),
      );
      // Distinct mtimes: two writes within the file system's timestamp granularity look unchanged.
      mtime += 1000;
      utimesSync(file, mtime, mtime);
    };
    return { file, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
  }

  it("syncs when the config loads and on each successful reload; reads never sync", async () => {
    const cfg = configFile();
    process.env.SCAP_CHANNELS_CONFIG = cfg.file;
    try {
      cfg.write(["cfg1", "cfg2"]);
      await keepInventoryInSync();
      expect(await hostsInInventory()).toEqual(["cfg1", "cfg2"]);

      cfg.write(["cfg2", "cfg3"]);
      // Listing hosts or channels reads the database as it is.
      expect((await listHosts()).map((h) => h.name)).toEqual(["cfg1", "cfg2"]);
      expect((await listChannels()).find((c) => c.name === "beta")!.hosts).toEqual(["cfg1", "cfg2"]);
      // The reload (here from the next config read) syncs.
      const reloaded = getConfig()!;
      expect(reloaded.hosts.map((h) => h.name)).toEqual(["cfg2", "cfg3"]);
      await until(async () => (await hostsInInventory()).includes("cfg3"));
      expect((await listHosts()).map((h) => [h.name, h.channels])).toEqual([
        ["cfg2", ["beta"]],
        ["cfg3", ["beta"]],
      ]);

      // A reload that does not validate keeps the last good config, and the inventory with it.
      cfg.write(["not a host name"]);
      expect(getConfigState()).toMatchObject({ status: "ok", reloadError: expect.stringContaining("hosts[0].name") });
      await keepInventoryInSync();
      expect(await hostsInInventory()).toEqual(["cfg2", "cfg3"]);
    } finally {
      delete process.env.SCAP_CHANNELS_CONFIG;
      cfg.remove();
    }
  });

  it("picks up a changed file without anyone reading the config, once watched", async () => {
    const cfg = configFile();
    process.env.SCAP_CHANNELS_CONFIG = cfg.file;
    cfg.write(["w1"]);
    const stop = watchConfigFile(20);
    try {
      await keepInventoryInSync();
      expect(await hostsInInventory()).toEqual(["w1"]);
      cfg.write(["w1", "w2"]);
      await until(async () => (await hostsInInventory()).length === 2);
      expect(await hostsInInventory()).toEqual(["w1", "w2"]);
    } finally {
      stop();
      delete process.env.SCAP_CHANNELS_CONFIG;
      cfg.remove();
    }
  });
});
