// refreshBuilds against a real signed repository on 127.0.0.1 and a real migrated SQLite database.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { SYSTEM_ACTOR, type Actor } from "../audit/log";
import { repositorySchema, type RepositoryConfig } from "../config-schema";
import { getDb } from "../db";
import { useTestDatabase } from "../testing/db";
import { findBuild, getRepositoryStatus, listBuilds } from "./queries";
import { refreshBuilds, startBuildRefreshTimer } from "./refresh";
import { repositorySourceKey } from "./source";
import { createSignedRepo, type RepoFixture } from "./testing/signed-repo";

const V1 = "4.79.0-1+0~20261101080000.3~1.gbp000aaa";
const V2 = "4.80.0-1+0~20261120093000.1~1.gbpabc123";
const V3 = "4.81.0-1+0~20261124120000.7~1.gbpdef456";
const scap = (version: string) => ({ package: "scap", version });
const ACTOR: Actor = { id: null, name: "alice", source: "api", role: "deployer", ip: "127.0.0.1" };

let fx: RepoFixture;
let config: RepositoryConfig;

beforeAll(async () => {
  useTestDatabase();
  fx = await createSignedRepo();
  config = repositorySchema.parse({ url: fx.url, keyring: fx.keys.a.armoredPath, timeoutSeconds: 2 });
});
afterAll(async () => {
  await fx?.close();
});
beforeEach(() => {
  fx.mode = "up";
  fx.requests.length = 0;
});

async function audits() {
  const rows = await getDb().auditEvent.findMany({ where: { action: "builds.refresh" }, orderBy: { id: "asc" } });
  return rows.map((r) => ({ actor: r.actorName, target: r.target, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

async function buildRows() {
  return (await getDb().build.findMany({ orderBy: { version: "asc" } })).map(({ version, inIndex, firstSeenAt, lastSeenAt, sha256 }) => ({
    version,
    inIndex,
    firstSeenAt,
    lastSeenAt,
    sha256,
  }));
}

describe("refreshBuilds", () => {
  it("stores the builds, the repository state and one audit event", async () => {
    fx.publish({ builds: [scap(V1), scap(V2), { package: "other", version: "9.9" }], filler: 20 });
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, status: "changed", added: [V1, V2], removed: [], buildCount: 2, signerKey: fx.keys.a.fingerprint });

    const builds = await listBuilds("scap");
    expect(builds.map((b) => [b.version, b.inIndex])).toEqual([
      [V2, true],
      [V1, true],
    ]);
    expect(builds[0]!.beta).toEqual({ upstream: "4.80.0", buildTime: new Date("2026-11-20T09:30:00Z"), gitCommit: "abc123" });
    expect(builds[0]!.fields).toMatchObject({ Maintainer: "Release Engineering <releng@example.org>", Section: "admin" });
    expect(builds[0]!.fields).not.toHaveProperty("SHA256");
    expect((await findBuild(config, V1))?.version).toBe(V1);
    expect(await findBuild(config, "0.0.1")).toBeNull();

    const state = await getRepositoryStatus(config);
    expect(state).toMatchObject({
      source: repositorySourceKey(config),
      signerKey: fx.keys.a.fingerprint,
      buildCount: 2,
      lastErrorKind: null,
      lastError: null,
      etag: expect.stringMatching(/^"/),
      indexSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(state!.lastSuccessAt).toBeInstanceOf(Date);
    expect(state!.releaseDate).toBeInstanceOf(Date);
    expect(state!.lastDurationMs).toBeGreaterThanOrEqual(0);

    expect(await audits()).toEqual([
      { actor: "alice", target: repositorySourceKey(config), payload: { ok: true, changed: true, added: [V1, V2], removed: [] } },
    ]);
  });

  it("costs one 304 when nothing changed, and only moves lastSeenAt", async () => {
    const before = await buildRows();
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, status: "unchanged", added: [], removed: [], buildCount: 2 });
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 304"]);
    const after = await buildRows();
    expect(after.map((b) => b.firstSeenAt)).toEqual(before.map((b) => b.firstSeenAt));
    expect(after[0]!.lastSeenAt.getTime()).toBeGreaterThan(before[0]!.lastSeenAt.getTime());
    expect((await audits()).at(-1)!.payload).toEqual({ ok: true, changed: false, added: [], removed: [] });
  });

  it("marks builds that left the index instead of deleting them, and brings them back", async () => {
    const firstSeen = new Map((await buildRows()).map((b) => [b.version, b.firstSeenAt.getTime()]));
    fx.publish({ builds: [scap(V2), scap(V3)] });
    expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true, status: "changed", added: [V3], removed: [V1], buildCount: 2 });
    let rows = await buildRows();
    expect(rows.map((b) => [b.version, b.inIndex])).toEqual([
      [V1, false],
      [V2, true],
      [V3, true],
    ]);
    expect(rows.find((b) => b.version === V2)!.firstSeenAt.getTime()).toBe(firstSeen.get(V2));

    fx.publish({ builds: [scap(V1), scap(V2), scap(V3)] });
    expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true, added: [V1], removed: [], buildCount: 3 });
    rows = await buildRows();
    expect(rows.every((b) => b.inIndex)).toBe(true);
    expect(rows.find((b) => b.version === V1)!.firstSeenAt.getTime()).toBe(firstSeen.get(V1));
  });

  it("records a failed read without touching any build, then clears the error on success", async () => {
    const before = await buildRows();
    const lastSuccess = (await getRepositoryStatus(config))!.lastSuccessAt;
    fx.publish({ builds: [scap(V3)], signers: ["c"] });
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: false, errorKind: "unknown-key", error: expect.stringContaining("not in the trusted keyring") });
    expect(await buildRows()).toEqual(before);
    const state = await getRepositoryStatus(config);
    expect(state).toMatchObject({ lastErrorKind: "unknown-key", lastError: expect.stringContaining("InRelease"), lastSuccessAt: lastSuccess, buildCount: 3 });
    expect(state!.lastErrorAt).toBeInstanceOf(Date);
    expect((await audits()).at(-1)!.payload).toEqual({ ok: false, errorKind: "unknown-key", error: expect.stringContaining("not in the trusted keyring") });

    fx.mode = "reset";
    expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: false, errorKind: "unreachable" });
    expect(await buildRows()).toEqual(before);

    fx.mode = "up";
    fx.publish({ builds: [scap(V1), scap(V2), scap(V3)] });
    expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true });
    expect(await getRepositoryStatus(config)).toMatchObject({ lastErrorKind: null, lastError: null, lastErrorAt: null });
  });

  it("records a fault of its own as an internal error, its text in the server log only", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const outcome = await refreshBuilds(config, ACTOR, {
        now: () => {
          throw new Error("clock broke at /srv/secret/path");
        },
      });
      const generic = "unexpected error; the server log has the details";
      expect(outcome).toMatchObject({ ok: false, errorKind: "internal", error: generic });
      expect(await getRepositoryStatus(config)).toMatchObject({ lastErrorKind: "internal", lastError: generic });
      expect((await audits()).at(-1)!.payload).toEqual({ ok: false, errorKind: "internal", error: generic });
      expect(logged).toHaveBeenCalledWith(expect.stringContaining("failed unexpectedly"), expect.objectContaining({ message: "clock broke at /srv/secret/path" }));
    } finally {
      logged.mockRestore();
    }
  });

  it("refuses a viewer before reading anything", async () => {
    const viewer: Actor = { id: null, name: "v", source: "ui", role: "viewer" };
    const before = { audits: await audits(), state: await getRepositoryStatus(config), builds: await buildRows() };
    fx.requests.length = 0;
    await expect(refreshBuilds(config, viewer)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(refreshBuilds(config, viewer, { force: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(fx.requests).toEqual([]);
    expect(await audits()).toEqual(before.audits);
    expect(await getRepositoryStatus(config)).toEqual(before.state);
    expect(await buildRows()).toEqual(before.builds);
  });

  it("lets a concurrent call join the running refresh, with an event for a person who joined another's", async () => {
    fx.publish({ builds: [scap(V2), scap(V3)] });
    const auditsBefore = (await audits()).length;
    const a = refreshBuilds(config, ACTOR);
    const again = refreshBuilds(config, ACTOR);
    const b = refreshBuilds(config, { ...ACTOR, name: "bob" });
    expect(again).toBe(a);
    const [outcomeA, outcomeB] = await Promise.all([a, b]);
    expect(outcomeB).toBe(outcomeA);
    expect(outcomeA).toMatchObject({ ok: true, removed: [V1] });
    const target = repositorySourceKey(config);
    expect((await audits()).slice(auditsBefore)).toEqual([
      { actor: "alice", target, payload: { ok: true, changed: true, added: [], removed: [V1] } },
      { actor: "bob", target, payload: { ok: true, changed: true, added: [], removed: [V1], joined: true } },
    ]);
    expect(fx.requests.filter((r) => r.includes("InRelease"))).toHaveLength(1);
  });

  it("downloads everything again when forced", async () => {
    const outcome = await refreshBuilds(config, ACTOR, { force: true });
    expect(outcome).toMatchObject({ ok: true, status: "changed", added: [], removed: [] });
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 200", "GET /dists/beta/main/binary-amd64/Packages.xz 200"]);
  });

  it("audits a scheduled read only when builds changed or the error is new; a person's read always", async () => {
    const SYSTEM: Actor = { id: null, name: "system", source: "system", role: "admin" };
    await refreshBuilds(config, SYSTEM);
    const before = (await audits()).length;
    await refreshBuilds(config, SYSTEM);
    expect(await audits()).toHaveLength(before);
    await refreshBuilds(config, ACTOR);
    expect(await audits()).toHaveLength(before + 1);
    fx.mode = "reset";
    await refreshBuilds(config, SYSTEM);
    await refreshBuilds(config, SYSTEM);
    expect((await audits()).slice(before + 1).map((a) => a.payload.errorKind)).toEqual(["unreachable"]);
    fx.mode = "up";
    await refreshBuilds(config, SYSTEM);
    expect((await audits()).slice(before + 2).map((a) => a.payload.ok)).toEqual([true]);
  });

  it("records a person whose refresh joined a scheduled read that saw nothing new", async () => {
    const before = (await audits()).length;
    const scheduled = refreshBuilds(config, SYSTEM_ACTOR);
    const mine = refreshBuilds(config, ACTOR);
    expect(await mine).toBe(await scheduled);
    expect((await audits()).slice(before)).toEqual([
      { actor: "alice", target: repositorySourceKey(config), payload: { ok: true, changed: false, added: [], removed: [], joined: true } },
    ]);
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 304"]);
  });

  it("records a failed read a person joined", async () => {
    fx.mode = "reset";
    const before = (await audits()).length;
    const scheduled = refreshBuilds(config, SYSTEM_ACTOR);
    const mine = refreshBuilds(config, ACTOR);
    expect(await mine).toMatchObject({ ok: false, errorKind: "unreachable" });
    await scheduled;
    expect((await audits()).slice(before).map((a) => [a.actor, a.payload.errorKind, a.payload.joined])).toEqual([
      ["system", "unreachable", undefined],
      ["alice", "unreachable", true],
    ]);
    fx.mode = "up";
    await refreshBuilds(config, SYSTEM_ACTOR);
  });

  it("makes a forced call wait out an unforced read, then read everything again", async () => {
    const before = (await audits()).length;
    const plain = refreshBuilds(config, SYSTEM_ACTOR);
    const forced = refreshBuilds(config, ACTOR, { force: true });
    expect(await plain).toMatchObject({ ok: true, status: "unchanged" });
    expect(await forced).toMatchObject({ ok: true, status: "changed", added: [], removed: [] });
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 304", "GET /dists/beta/InRelease 200", "GET /dists/beta/main/binary-amd64/Packages.xz 200"]);
    // The forced read is the person's own, not a joined one.
    expect((await audits()).slice(before)).toEqual([
      { actor: "alice", target: repositorySourceKey(config), payload: { ok: true, changed: true, added: [], removed: [] } },
    ]);

    // An unforced call is satisfied by a forced read already running.
    fx.requests.length = 0;
    const forcedAgain = refreshBuilds(config, ACTOR, { force: true });
    expect(refreshBuilds(config, SYSTEM_ACTOR)).toBe(forcedAgain);
    await forcedAgain;
    expect(fx.requests.filter((r) => r.includes("InRelease"))).toHaveLength(1);
  });

  it("records a version published again with other contents, even from a scheduled read", async () => {
    const target = repositorySourceKey(config);
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const before = (await audits()).length;
      const rebuiltSha = "ab".repeat(32);
      fx.publish({ builds: [{ ...scap(V2), sha256: rebuiltSha, size: 2000 }, scap(V3)] });
      expect(await refreshBuilds(config, SYSTEM_ACTOR)).toMatchObject({ ok: true, status: "changed", added: [], removed: [], rebuilt: [V2] });
      expect((await buildRows()).find((b) => b.version === V2)!.sha256).toBe(rebuiltSha);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`${V2} listed again with another SHA256 or size`));

      // Another size alone counts too; unchanged builds are not named.
      fx.publish({ builds: [{ ...scap(V2), sha256: rebuiltSha, size: 2000 }, { ...scap(V3), size: 1234 }] });
      expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true, rebuilt: [V3] });

      // Published again unchanged: nothing to record for the scheduler.
      fx.publish({ builds: [{ ...scap(V2), sha256: rebuiltSha, size: 2000 }, { ...scap(V3), size: 1234 }] });
      expect(await refreshBuilds(config, SYSTEM_ACTOR)).toMatchObject({ ok: true, rebuilt: [] });

      expect((await audits()).slice(before)).toEqual([
        { actor: "system", target, payload: { ok: true, changed: true, added: [], removed: [], rebuilt: [V2] } },
        { actor: "alice", target, payload: { ok: true, changed: true, added: [], removed: [], rebuilt: [V3] } },
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});

describe("startBuildRefreshTimer", () => {
  it("refreshes on its interval without overlapping, and stops", async () => {
    const fast = { ...config, refreshSeconds: 0.05 };
    const before = (await audits()).length;
    fx.mode = "hang";
    let calls = 0;
    const timer = startBuildRefreshTimer(() => {
      calls++;
      return { ...fast, timeoutSeconds: 0.3 };
    });
    await new Promise((r) => setTimeout(r, 450));
    // A hung repository holds each run for its timeout; runs never pile up behind it.
    expect(calls).toBeLessThanOrEqual(2);
    fx.mode = "up";
    await new Promise((r) => setTimeout(r, 400));
    timer.stop();
    await new Promise((r) => setTimeout(r, 350));
    const events = (await audits()).slice(before);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]!.actor).toBe("system");
    expect(events[0]!.payload).toMatchObject({ ok: false, errorKind: "unreachable" });
    const settled = events.length;
    await new Promise((r) => setTimeout(r, 200));
    expect((await audits()).length - before).toBe(settled);
  });

  it("waits for a configuration and logs instead of throwing", async () => {
    let calls = 0;
    const timer = startBuildRefreshTimer(() => {
      calls++;
      throw new Error("config file is broken");
    });
    await new Promise((r) => setTimeout(r, 50));
    timer.stop();
    expect(calls).toBe(1);
  });
});
