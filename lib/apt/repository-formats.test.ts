// readRepository against a real gpg-signed repository (apt-ftparchive + gpg) on 127.0.0.1: layouts,
// signatures, freshness, conditional requests and network faults.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { repositorySchema, type RepositoryConfig } from "../config-schema";
import { createHash } from "node:crypto";
import { checkBuildDownload } from "./deb";
import { RepositoryError } from "./errors";
import { buildUrl, readRepository, releaseBaseUrl, type PreviousRead, type RepositoryRead } from "./repository";
import { createSignedRepo, readRelease, type RepoFixture } from "./testing/signed-repo";

const V1 = "4.80.0-1+0~20261120093000.1~1.gbpabc123";
const V2 = "4.81.0-1+0~20261124120000.7~1.gbpdef456";
const BUILDS = [
  { package: "scap", version: V1 },
  { package: "scap", version: V2 },
];

let fx: RepoFixture;
beforeAll(async () => {
  fx = await createSignedRepo();
});
afterAll(async () => {
  await fx?.close();
});
beforeEach(() => {
  fx.mode = "up";
  fx.requests.length = 0;
});

function config(overrides: Partial<Record<keyof RepositoryConfig, unknown>> = {}): RepositoryConfig {
  return repositorySchema.parse({ url: fx.url, keyring: fx.keys.a.armoredPath, timeoutSeconds: 2, ...overrides });
}

const previousOf = (r: RepositoryRead): PreviousRead => ({
  etag: r.etag,
  lastModified: r.lastModified,
  indexSha256: r.indexSha256,
  signerKey: r.signerKey,
  releaseDate: r.releaseDate,
  validUntil: r.validUntil,
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function failure(p: Promise<unknown>): Promise<RepositoryError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RepositoryError) return e;
    throw e;
  }
  throw new Error("expected the read to fail");
}

describe("readRepository", () => {
  it("reads the signed index: builds, signer, dates, validators, preferring Packages.xz", async () => {
    fx.publish({ builds: BUILDS, filler: 40 });
    const r = await readRepository(config());
    expect(r.status).toBe("changed");
    expect(r.builds.map((b) => b.version)).toEqual([V1, V2]);
    expect(r.builds[1]).toMatchObject({ package: "scap", architecture: "all", size: 1000, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(r.signerKey).toBe(fx.keys.a.fingerprint);
    expect(r.releaseDate!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(r.validUntil!.getTime()).toBeGreaterThan(Date.now());
    expect(r.etag).toMatch(/^".+"$/);
    expect(r.indexUrl).toBe(`${fx.url}dists/beta/main/binary-amd64/Packages.xz`);
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 200", "GET /dists/beta/main/binary-amd64/Packages.xz 200"]);
  });

  it("answers an unchanged repository from one 304 and no index download", async () => {
    fx.publish({ builds: BUILDS });
    const first = await readRepository(config());
    fx.requests.length = 0;
    const second = await readRepository(config(), previousOf(first));
    expect(second).toMatchObject({ status: "unchanged", builds: [], signerKey: fx.keys.a.fingerprint, indexSha256: first.indexSha256 });
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 304"]);
  });

  it("skips the index download when a re-signed Release lists the same index", async () => {
    fx.publish({ builds: BUILDS, date: new Date(Date.now() - 60_000) });
    const first = await readRepository(config());
    fx.publish({ builds: BUILDS });
    fx.requests.length = 0;
    const second = await readRepository(config(), previousOf(first));
    expect(second.status).toBe("unchanged");
    expect(second.releaseDate!.getTime()).toBeGreaterThan(first.releaseDate!.getTime());
    expect(fx.requests).toEqual(["GET /dists/beta/InRelease 200"]);
  });

  it("does not trust a 304 once the keyring no longer holds the key that signed the cached Release", async () => {
    fx.publish({ builds: BUILDS, signers: ["a", "b"] });
    const first = await readRepository(config());
    fx.requests.length = 0;
    const r = await readRepository(config({ keyring: fx.keys.b.binaryPath }), previousOf(first));
    expect(r.signerKey).toBe(fx.keys.b.fingerprint);
    expect(fx.requests[0]).toBe("GET /dists/beta/InRelease 200");
  });

  it("reports an unchanged Release whose Valid-Until has passed as expired", async () => {
    fx.publish({ builds: BUILDS });
    const first = await readRepository(config());
    const e = await failure(readRepository(config(), { ...previousOf(first), validUntil: new Date(Date.now() - 1000) }));
    expect(e.kind).toBe("expired");
    expect(e.message).toContain("unchanged since the last read");
  });

  it("falls back to Release + Release.gpg, with a binary keyring", async () => {
    fx.publish({ builds: BUILDS, inRelease: false, signers: ["b"] });
    const r = await readRepository(config({ keyring: fx.keys.b.binaryPath }));
    expect(r.releaseUrl).toBe(`${fx.url}dists/beta/Release`);
    expect(r.signerKey).toBe(fx.keys.b.fingerprint);
    expect(r.builds).toHaveLength(2);
    expect(fx.requests.slice(0, 3)).toEqual(["GET /dists/beta/InRelease 404", "GET /dists/beta/Release 200", "GET /dists/beta/Release.gpg 200"]);
  });

  it("accepts any trusted key from several keyring files", async () => {
    fx.publish({ builds: BUILDS, signers: ["b"] });
    const r = await readRepository(config({ keyring: [fx.keys.a.armoredPath, fx.keys.b.armoredPath] }));
    expect(r.signerKey).toBe(fx.keys.b.fingerprint);
  });

  it("never accepts an unsigned repository unless configured to", async () => {
    fx.publish({ builds: BUILDS, inRelease: false, detached: false });
    const e = await failure(readRepository(config()));
    expect(e.kind).toBe("bad-signature");
    expect(e.message).toMatch(/Release is not signed: neither InRelease nor Release\.gpg exists/);
    const r = await readRepository(config({ unsigned: true, keyring: undefined }));
    expect(r.signerKey).toBeNull();
    expect(r.builds).toHaveLength(2);
  });

  it("reads a flat repository (deb URL ./) and one in a sub-folder", async () => {
    fx.publish({ builds: BUILDS, flat: true });
    const r = await readRepository(config({ flat: true }));
    expect(r.releaseUrl).toBe(`${fx.url}InRelease`);
    expect(r.indexUrl).toBe(`${fx.url}Packages.xz`);
    expect(r.builds.map((b) => b.version)).toEqual([V1, V2]);
    expect(releaseBaseUrl({ url: "http://h/repo", suite: "sub/", flat: true })).toBe("http://h/repo/sub/");
    expect(releaseBaseUrl({ url: "http://h/repo/", suite: "./", flat: true })).toBe("http://h/repo/");
    expect(buildUrl({ url: "http://h/repo", suite: "sub/", flat: true }, "scap_1_all.deb")).toBe("http://h/repo/sub/scap_1_all.deb");
    expect(buildUrl({ url: "http://h/repo", suite: "beta", flat: false }, "pool/main/s/scap/scap_1_all.deb")).toBe("http://h/repo/pool/main/s/scap/scap_1_all.deb");
    expect(() => buildUrl({ url: "http://h/repo", suite: "beta", flat: false }, "pool/%2e%2e/%2e%2e/x.deb")).toThrow(/points outside the repository/);
    expect(() => buildUrl({ url: "http://h/repo", suite: "sub/", flat: true }, "%2e%2e/x.deb")).toThrow(/points outside the repository at http:\/\/h\/repo\/sub\//);
  });

  it("picks .gz, then plain, among the variants the Release lists, and falls back when one is missing", async () => {
    fx.publish({ builds: BUILDS, compressions: ["gz", "none"] });
    expect((await readRepository(config())).indexUrl).toMatch(/Packages\.gz$/);
    fx.publish({ builds: BUILDS, compressions: ["none"] });
    expect((await readRepository(config())).indexUrl).toMatch(/binary-amd64\/Packages$/);
    fx.publish({ builds: BUILDS });
    rmSync(path.join(fx.root, "dists/beta/main/binary-amd64/Packages.xz"));
    fx.requests.length = 0;
    const r = await readRepository(config());
    expect(r.indexUrl).toMatch(/Packages\.gz$/);
    expect(fx.requests).toContain("GET /dists/beta/main/binary-amd64/Packages.xz 404");
  });

  it("fetches by hash when the Release says Acquire-By-Hash", async () => {
    fx.publish({ builds: BUILDS, byHash: true });
    const r = await readRepository(config());
    expect(r.indexUrl).toMatch(/binary-amd64\/by-hash\/SHA256\/[0-9a-f]{64}$/);
    expect(r.builds).toHaveLength(2);
  });

  it("refuses an expired, a future-dated and a replayed Release", async () => {
    fx.publish({ builds: BUILDS, date: new Date(Date.now() - 3 * 86_400_000), validUntil: new Date(Date.now() - 86_400_000) });
    expect((await failure(readRepository(config()))).message).toMatch(/InRelease expired at .*\(Valid-Until\)/);
    fx.publish({ builds: BUILDS, date: new Date(Date.now() + 3_600_000) });
    expect((await failure(readRepository(config()))).message).toMatch(/in the future/);
    fx.publish({ builds: BUILDS, date: new Date(Date.now() - 3_600_000) });
    const e = await failure(readRepository(config(), { releaseDate: new Date() }));
    expect([e.kind, e.message]).toEqual(["expired", expect.stringMatching(/older than the Release already accepted/)]);
  });

  it("accepts a Release without Valid-Until", async () => {
    fx.publish({ builds: BUILDS, validUntil: null });
    expect((await readRepository(config())).validUntil).toBeNull();
  });

  it("says which key signed when it is not trusted", async () => {
    fx.publish({ builds: BUILDS, signers: ["c"] });
    const e = await failure(readRepository(config()));
    expect(e.kind).toBe("unknown-key");
    expect(e.message).toContain(fx.keys.c.fingerprint.slice(-16));
    expect(e.message).toContain(fx.keys.a.fingerprint);
  });

  it("reports a Packages file changed after signing as a hash mismatch", async () => {
    fx.publish({ builds: BUILDS, compressions: ["none"] });
    const file = path.join(fx.root, "dists/beta/main/binary-amd64/Packages");
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace("Description: scap test package", "Description: scap test packagE"));
    const e = await failure(readRepository(config()));
    expect(e.kind).toBe("hash-mismatch");
    expect(e.message).toMatch(/binary-amd64\/Packages: SHA256 is [0-9a-f]{16}…, the signed Release lists [0-9a-f]{16}…/);
  });

  it("refuses an index larger than maxDownloadBytes before downloading it", async () => {
    fx.publish({ builds: BUILDS, filler: 200 });
    const e = await failure(readRepository(config({ maxDownloadBytes: 1000 })));
    expect(e.kind).toBe("too-large");
    expect(e.message).toMatch(/Packages\.xz is \d+ bytes, more than repository\.maxDownloadBytes \(1000\)/);
    expect(fx.requests.filter((r) => r.includes("Packages"))).toEqual([]);
  });

  it("says what exists when the suite, component or architecture is wrong", async () => {
    fx.publish({ builds: BUILDS });
    const e = await failure(readRepository(config({ suite: "stable" })));
    expect([e.kind, e.message]).toEqual(["not-found", `no InRelease or Release at ${fx.url}dists/stable/ (check repository.url, suite and flat)`]);
    const c = await failure(readRepository(config({ component: "contrib" })));
    expect([c.kind, c.message]).toEqual(["not-found", expect.stringContaining("components main and architectures amd64")]);
  });

  it("turns a refused, reset, failing or silent server into unreachable within the timeout", async () => {
    fx.publish({ builds: BUILDS });
    fx.mode = "error";
    expect((await failure(readRepository(config()))).message).toMatch(/InRelease: the server answered HTTP 503/);
    fx.mode = "reset";
    expect((await failure(readRepository(config()))).kind).toBe("unreachable");
    fx.mode = "hang";
    const t0 = Date.now();
    const e = await failure(readRepository(config({ timeoutSeconds: 1 })));
    expect([e.kind, e.message]).toEqual(["unreachable", expect.stringMatching(/InRelease: no answer within 1 s \(repository\.timeoutSeconds\)/)]);
    expect(Date.now() - t0).toBeLessThan(3000);
    const port = await closedPort();
    const refused = await failure(readRepository(config({ url: `http://127.0.0.1:${port}/` })));
    expect([refused.kind, refused.message]).toEqual(["unreachable", `http://127.0.0.1:${port}/dists/beta/InRelease: connection refused`]);
    const bad = await failure(readRepository(config({ url: "http://127.0.0.1:9/" })));
    expect(bad.message).toMatch(/network error \(fetch failed: .+\)/);
  });

  it("keeps the Release text to what was signed", async () => {
    fx.publish({ builds: BUILDS });
    const release = readRelease(fx);
    // An InRelease whose signed text lists other hashes than a stray Release file next to it.
    writeFileSync(path.join(fx.root, fx.releaseDir, "Release"), release.replace(/SHA256:[\s\S]*/, "SHA256:\n"));
    expect((await readRepository(config())).builds).toHaveLength(2);
  });
});

describe("checkBuildDownload", () => {
  it("checks a .deb against the size and SHA256 the index lists, as apt will", async () => {
    const filename = "pool/main/s/scap/scap_1.0-1_all.deb";
    const file = path.join(fx.root, filename);
    mkdirSync(path.dirname(file), { recursive: true });
    const bytes = Buffer.from("!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n");
    writeFileSync(file, bytes);
    const build = { filename, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };

    expect(await checkBuildDownload(config(), build)).toMatchObject({ url: `${fx.url}${filename}` });

    writeFileSync(file, Buffer.from(bytes.toString().replace("2.0", "3.0")));
    await expect(checkBuildDownload(config(), build)).rejects.toMatchObject({
      kind: "hash-mismatch",
      message: expect.stringMatching(/scap_1\.0-1_all\.deb: SHA256 is [0-9a-f]{16}…, the verified index lists [0-9a-f]{16}… \(Hash Sum mismatch\)/),
    });
    writeFileSync(file, Buffer.concat([bytes, Buffer.from("x")]));
    await expect(checkBuildDownload(config(), build)).rejects.toMatchObject({
      kind: "hash-mismatch",
      message: expect.stringContaining(`the server announces ${bytes.length + 1} bytes, the verified index lists ${bytes.length}`),
    });
    rmSync(file);
    await expect(checkBuildDownload(config(), build)).rejects.toMatchObject({ kind: "not-found" });
    await expect(checkBuildDownload(config({ maxDownloadBytes: 10 }), build)).rejects.toMatchObject({ kind: "too-large" });
    // Refused before any request: it would leave the repository's folder.
    fx.requests.length = 0;
    await expect(checkBuildDownload(config({ url: `${fx.url}debian/` }), { ...build, filename: "pool/%2e%2e/%2e%2e/x.deb" })).rejects.toMatchObject({
      kind: "parse-error",
      message: expect.stringContaining("points outside the repository"),
    });
    expect(fx.requests).toEqual([]);
  });
});
