import { beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../config-schema";
import { getDb } from "../db";
import { syncInventory } from "../fleet/inventory";
import { useTestDatabase } from "../testing/db";
import { listHosts } from "./fleet-view";

// listHosts reads the fleet in one aggregate statement and looks further back only for hosts
// whose newest observation is not a known state; here it is checked against the plain per-host
// reading (newest observation, newest known one) on a mixed fleet.

const V1 = "4.90.0-1";
const V2 = "4.91.0-1";
const names = ["web10", "web2", "web1", "db1", "db2", "db3", "lone", "never"];
const config = configSchema.parse({
  repository: { url: "http://127.0.0.1:1/", unsigned: true },
  ssh: { privateKeyPath: "/nonexistent/key", knownHostsPath: "/nonexistent/known_hosts" },
  hosts: names.map((name) => ({ name, ...(name === "lone" ? { address: "10.0.0.9", port: 2222 } : {}) })),
  channels: [
    { name: "canary", hosts: ["web1"] },
    { name: "web", hosts: ["web1", "web2", "web10"] },
    { name: "beta", hosts: "all", requires: "canary" },
  ],
});

let clock = Date.parse("2026-11-25T10:00:00Z");
async function observe(host: string, status: string, version: string | null, at = new Date((clock += 60_000))) {
  const h = await getDb().host.findUniqueOrThrow({ where: { name: host } });
  const errorKind = status === "unreachable" || status === "unknown" ? "refused" : null;
  await getDb().hostObservation.create({ data: { hostId: h.id, status, version, errorKind, error: errorKind && `${host}: connection refused`, durationMs: 40, observedAt: at } });
}

beforeAll(async () => {
  useTestDatabase();
  await syncInventory(config);
  await observe("web1", "ok", V1);
  await observe("web1", "ok", V2);
  await observe("web2", "ok", V1);
  // Three observations at one instant: the highest id is the newest.
  const same = new Date((clock += 60_000));
  await observe("web10", "ok", V1, same);
  await observe("web10", "unreachable", null, same);
  await observe("web10", "ok", V2, same);
  await observe("db1", "not-installed", null);
  await observe("db2", "ok", V1);
  for (let i = 0; i < 5; i++) await observe("db2", "unreachable", null);
  await observe("db3", "unknown", null);
  await observe("lone", "ok", V2);
  await observe("lone", "not-installed", null);
  await observe("lone", "unknown", null);
});

async function reference() {
  const db = getDb();
  const hosts = await db.host.findMany({ where: { inInventory: true }, include: { channels: { include: { channel: true } } } });
  const order = (await db.channel.findMany({ orderBy: [{ position: "asc" }, { name: "asc" }] })).map((c) => c.name);
  const newest = { orderBy: [{ observedAt: "desc" as const }, { id: "desc" as const }] };
  return Promise.all(
    hosts.map(async (h) => {
      const o = await db.hostObservation.findFirst({ where: { hostId: h.id }, ...newest });
      const k = await db.hostObservation.findFirst({ where: { hostId: h.id, status: { in: ["ok", "not-installed"] } }, ...newest });
      return {
        name: h.name,
        address: h.address,
        port: h.port,
        channels: h.channels.map((m) => m.channel.name).sort((a, b) => order.indexOf(a) - order.indexOf(b)),
        version: o?.version ?? null,
        status: o?.status ?? "unknown",
        errorKind: o?.errorKind ?? null,
        error: o?.error ?? null,
        observedAt: o?.observedAt ?? null,
        lastKnown: k ? { version: k.version, status: k.status, observedAt: k.observedAt } : null,
      };
    }),
  );
}

describe("listHosts", () => {
  it("returns each host's newest observation and last known state as a per-host reading does", async () => {
    const hosts = await listHosts();
    const ref = await reference();
    expect(hosts.map(({ drift: _d, offMajority: _m, ...h }) => h)).toEqual(expect.arrayContaining(ref));
    expect(hosts).toHaveLength(ref.length);
  });

  it("orders hosts by name with numbers in order", async () => {
    expect((await listHosts()).map((h) => h.name)).toEqual(["db1", "db2", "db3", "lone", "never", "web1", "web2", "web10"]);
  });

  it("keeps what each kind of host shows", async () => {
    const by = Object.fromEntries((await listHosts()).map((h) => [h.name, h]));
    expect(by.web10).toMatchObject({ status: "ok", version: V2, lastKnown: { status: "ok", version: V2 } });
    expect(by.db2).toMatchObject({ status: "unreachable", version: null, lastKnown: { status: "ok", version: V1 } });
    expect(by.lone).toMatchObject({ status: "unknown", address: "10.0.0.9", port: 2222, lastKnown: { status: "not-installed", version: null } });
    expect(by.db3).toMatchObject({ status: "unknown", lastKnown: null });
    expect(by.never).toMatchObject({ status: "unknown", observedAt: null, lastKnown: null, drift: null, offMajority: false });
    // No deployments: beta expects what most of its members with a known state run (V2: web1, web10).
    expect(by.web2!.drift).not.toBeNull();
    expect(by.web2!.offMajority).toBe(true);
    expect(by.web1).toMatchObject({ channels: ["canary", "web", "beta"], drift: null });
  });
});
