// The reader and refresh against the sandbox's real signed repository (apt-ftparchive, gpg, its
// own HTTP server with fault modes) and a real migrated SQLite database.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { down, publishBuild, removeBuild, restoreRepository, setRepositoryMode, tamperRepository, up, type Sandbox } from "../../e2e/sandbox";
import type { Actor } from "../audit/log";
import { readConfigFile, type RepositoryConfig } from "../config";
import { getDb } from "../db";
import { useTestDatabase } from "../testing/db";
import { checkBuildDownload } from "./deb";
import { getRepositoryStatus, listBuilds } from "./queries";
import { refreshBuilds } from "./refresh";
import { readRepository } from "./repository";

const ACTOR: Actor = { id: null, name: "releng", source: "ui", role: "deployer" };
const NEWER = "4.82.0-1+0~20261201101500.2~1.gbp123fed";

let dir: string;
let sb: Sandbox;
let config: RepositoryConfig;

beforeAll(async () => {
  useTestDatabase();
  dir = mkdtempSync(path.join(os.tmpdir(), "scap-apt-sandbox-"));
  sb = await up({ hosts: 1, dir });
  // The sandbox's own config file, as the app would load it; a short timeout for the hang test.
  config = { ...readConfigFile(sb.configPath).repository, timeoutSeconds: 2 };
});

afterAll(async () => {
  if (sb) await down(dir);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Requests the sandbox's repository server logged since `from` (a line count). */
function httpLog(from = 0): string[] {
  const lines = readFileSync(path.join(dir, "logs", "repo-http.log"), "utf8").split("\n").filter((l) => / GET /.test(l));
  return lines.slice(from).map((l) => {
    const [, , , pathname, status] = l.split(" ");
    return `${pathname} ${status}`;
  });
}

async function snapshot() {
  return (await getDb().build.findMany({ orderBy: { id: "asc" } })).map(({ version, inIndex, sha256, size, filename, firstSeenAt, lastSeenAt }) => ({
    version,
    inIndex,
    sha256,
    size,
    filename,
    firstSeenAt,
    lastSeenAt,
  }));
}

async function lastAudit() {
  const e = await getDb().auditEvent.findFirst({ where: { action: "builds.refresh" }, orderBy: { id: "desc" } });
  return JSON.parse(e!.payload) as Record<string, unknown>;
}

describe("repository reader on the sandbox", () => {
  it("reads the published builds, signed by the sandbox key", async () => {
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, status: "changed", added: sb.versions, buildCount: 3 });
    const builds = await listBuilds("scap");
    expect(builds.map((b) => b.version)).toEqual([...sb.versions].reverse());
    expect(builds[0]).toMatchObject({ inIndex: true, beta: { upstream: "4.81.0", gitCommit: "def456", buildTime: new Date("2026-11-24T12:00:00Z") } });
    const state = await getRepositoryStatus(config);
    expect(state!.signerKey).toMatch(/^[0-9A-F]{40}$/);
    expect(state!.validUntil!.getTime()).toBeGreaterThan(Date.now());
  });

  it("answers a second refresh of an unchanged repository with a 304 and no index download", async () => {
    const from = httpLog().length;
    const before = await snapshot();
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, status: "unchanged", added: [], removed: [] });
    expect(httpLog(from)).toEqual(["/dists/beta/InRelease 304"]);
    expect((await snapshot()).map(({ lastSeenAt: _l, ...b }) => b)).toEqual(before.map(({ lastSeenAt: _l, ...b }) => b));
  });

  const signedFaults = [
    ["bad-signature", "bad-signature", /InRelease: signature does not verify .*changed after signing/],
    ["other-key", "unknown-key", /InRelease is signed by key [0-9A-F]{16}, which is not in the trusted keyring/],
    ["expired", "expired", /InRelease expired at .* \(Valid-Until\)/],
  ] as const;

  it.each(signedFaults)("a %s fault fails with %s and keeps every build", async (fault, kind, message) => {
    const before = await snapshot();
    await tamperRepository(sb, fault);
    try {
      const outcome = await refreshBuilds(config, ACTOR);
      expect(outcome).toMatchObject({ ok: false, errorKind: kind, error: expect.stringMatching(message) });
      expect(await snapshot()).toEqual(before);
      expect(await getRepositoryStatus(config)).toMatchObject({ lastErrorKind: kind, buildCount: 3 });
      expect(await lastAudit()).toMatchObject({ ok: false, errorKind: kind });
    } finally {
      await restoreRepository(sb);
    }
    expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true, added: [], removed: [] });
    expect(await getRepositoryStatus(config)).toMatchObject({ lastErrorKind: null, lastError: null });
  });

  const indexFaults = [
    ["packages", /Packages\.xz: SHA256 is [0-9a-f]{16}…, the signed Release lists [0-9a-f]{16}…/],
    ["truncated", /Packages\.xz: the server announces \d+ bytes, the signed Release lists \d+/],
  ] as const;

  it.each(indexFaults)("a %s fault is a hash mismatch once the index is read again, and keeps every build", async (fault, message) => {
    const before = await snapshot();
    await tamperRepository(sb, fault);
    try {
      // The signed InRelease did not change, so the index already verified still stands...
      expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true, status: "unchanged" });
      // ...and reading everything again finds the changed file.
      const outcome = await refreshBuilds(config, ACTOR, { force: true });
      expect(outcome).toMatchObject({ ok: false, errorKind: "hash-mismatch", error: expect.stringMatching(message) });
      expect((await snapshot()).map(({ lastSeenAt: _l, ...b }) => b)).toEqual(before.map(({ lastSeenAt: _l, ...b }) => b));
      await expect(readRepository(config)).rejects.toMatchObject({ kind: "hash-mismatch" });
    } finally {
      await restoreRepository(sb);
    }
    expect(await refreshBuilds(config, ACTOR, { force: true })).toMatchObject({ ok: true, added: [], removed: [] });
  });

  it("a changed .deb leaves the index valid but fails the download check", async () => {
    const newest = (await listBuilds("scap"))[0]!;
    expect(await checkBuildDownload(config, newest)).toMatchObject({ url: expect.stringMatching(/\/pool\/main\/s\/scap\/scap_4\.81\.0/) });
    await tamperRepository(sb, "deb");
    try {
      expect(await refreshBuilds(config, ACTOR)).toMatchObject({ ok: true });
      await expect(checkBuildDownload(config, newest)).rejects.toMatchObject({ kind: "hash-mismatch", message: expect.stringContaining("Hash Sum mismatch") });
    } finally {
      await restoreRepository(sb);
    }
  });

  it.each([
    ["down", /InRelease: connection refused/],
    ["hang", /InRelease: no answer within 2 s/],
  ] as const)("a repository that is %s is unreachable and keeps every build", async (mode, message) => {
    const before = await snapshot();
    await setRepositoryMode(sb, mode);
    try {
      const outcome = await refreshBuilds(config, ACTOR);
      expect(outcome).toMatchObject({ ok: false, errorKind: "unreachable", error: expect.stringMatching(message) });
      expect(await snapshot()).toEqual(before);
    } finally {
      await setRepositoryMode(sb, "up");
    }
  });

  it("a published build appears as the newest", async () => {
    await publishBuild(sb, NEWER);
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, status: "changed", added: [NEWER], removed: [], buildCount: 4 });
    expect((await listBuilds("scap"))[0]).toMatchObject({ version: NEWER, inIndex: true });
    expect(await lastAudit()).toEqual({ ok: true, changed: true, added: [NEWER], removed: [] });
  });

  it("a removed build is kept with inIndex false", async () => {
    const oldest = sb.versions[0]!;
    const firstSeen = (await getDb().build.findFirst({ where: { version: oldest } }))!.firstSeenAt;
    await removeBuild(sb, oldest);
    const outcome = await refreshBuilds(config, ACTOR);
    expect(outcome).toMatchObject({ ok: true, added: [], removed: [oldest], buildCount: 3 });
    const row = (await listBuilds("scap")).find((b) => b.version === oldest);
    expect(row).toMatchObject({ inIndex: false, firstSeenAt: firstSeen });
    expect(await lastAudit()).toEqual({ ok: true, changed: true, added: [], removed: [oldest] });
  });
});
