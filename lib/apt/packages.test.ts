import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseDeb822 } from "./deb822";
import { RepositoryError } from "./errors";
import type { HttpResponse } from "./fetch";
import { readPackagesIndex, resolveUnder, toBuild } from "./packages";
import type { Compression, IndexFileEntry } from "./release";
import { packagesIndex } from "./testing/packages-index";

const URL_ = "http://repo.invalid/dists/beta/main/binary-amd64/Packages";
const SEL = { package: "scap", architecture: "amd64" };
const BUILDS = [
  { package: "scap", version: "4.80.0-1+0~20261120093000.1~1.gbpabc123" },
  { package: "scap", version: "4.81.0-1+0~20261124120000.7~1.gbpdef456" },
  { package: "scap", version: "4.81.0-1+0~20261124120000.7~1.gbpdef456", architecture: "arm64" },
];
const TEXT = packagesIndex(300, BUILDS);
const PLAIN = Buffer.from(TEXT);
const GZ = gzipSync(PLAIN);
const XZ = execFileSync("xz", ["-6", "-c"], { input: PLAIN });

const entry = (data: Uint8Array, path = "main/binary-amd64/Packages"): IndexFileEntry => ({
  path,
  size: data.length,
  sha256: createHash("sha256").update(data).digest("hex"),
});

/** A served body, in small chunks, optionally with a Content-Length header. */
function response(data: Uint8Array, opts: { contentLength?: number | null; chunk?: number } = {}): HttpResponse & { read: () => number } {
  let read = 0;
  const chunk = opts.chunk ?? 4096;
  return {
    url: URL_,
    status: 200,
    etag: null,
    lastModified: null,
    contentLength: opts.contentLength === undefined ? data.length : opts.contentLength,
    async *chunks() {
      for (let i = 0; i < data.length; i += chunk) {
        read = Math.min(data.length, i + chunk);
        yield data.subarray(i, i + chunk);
      }
    },
    discard: async () => {},
    read: () => read,
  };
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RepositoryError) return `${e.kind}: ${e.message}`;
    throw e;
  }
  return "ok";
}

const variants: [Compression, Buffer][] = [
  ["none", PLAIN],
  ["gz", GZ],
  ["xz", XZ],
];

describe("readPackagesIndex", () => {
  it.each(variants)("reads %s and keeps the package's stanzas for the architecture or all", async (compression, data) => {
    const r = await readPackagesIndex(response(data), { entry: entry(data), compression }, entry(PLAIN), SEL, 1 << 30);
    expect(r.builds.map((b) => [b.version, b.architecture])).toEqual([
      [BUILDS[0]!.version, "all"],
      [BUILDS[1]!.version, "all"],
    ]);
    expect(r.builds[0]).toMatchObject({ package: "scap", size: 1000, filename: expect.stringMatching(/^pool\/main\/s\/scap\/scap_4\.80\.0/) });
    expect(r.builds[0]!.fields.Maintainer).toBe("Release Engineering <releng@example.org>");
    expect(r.paragraphs).toBe(303);
    expect(r.warnings).toEqual([]);
  });

  it.each(variants)("reports a changed %s file as a hash mismatch with both hashes", async (compression, data) => {
    const changed = Buffer.from(data);
    changed[Math.floor(changed.length / 2)]! ^= 0x20;
    const got = await kindOf(readPackagesIndex(response(changed), { entry: entry(data), compression }, null, SEL, 1 << 30));
    expect(got).toMatch(/^hash-mismatch: http:\/\/repo\.invalid\/.*: SHA256 is [0-9a-f]{16}…, the signed Release lists [0-9a-f]{16}…/);
  });

  it.each(variants)("reports a truncated %s file as a size mismatch", async (compression, data) => {
    const cut = data.subarray(0, data.length >> 1);
    expect(await kindOf(readPackagesIndex(response(cut, { contentLength: null }), { entry: entry(data), compression }, null, SEL, 1 << 30))).toMatch(
      new RegExp(`^hash-mismatch: .*got ${cut.length} bytes, the signed Release lists ${data.length}`),
    );
  });

  it("stops reading as soon as the server sends more than the signed size", async () => {
    const longer = Buffer.concat([PLAIN, Buffer.alloc(1 << 20, 0x41)]);
    const res = response(longer, { contentLength: null });
    expect(await kindOf(readPackagesIndex(res, { entry: entry(PLAIN), compression: "none" }, null, SEL, 1 << 30))).toMatch(/^hash-mismatch: .*more than the \d+ bytes/);
    expect(res.read()).toBeLessThan(PLAIN.length + 8192);
  });

  it("rejects a wrong Content-Length before reading the body", async () => {
    const res = response(PLAIN, { contentLength: PLAIN.length + 1 });
    expect(await kindOf(readPackagesIndex(res, { entry: entry(PLAIN), compression: "none" }, null, SEL, 1 << 30))).toMatch(/announces \d+ bytes/);
    expect(res.read()).toBe(0);
  });

  it("checks what decompression produced against the uncompressed entry", async () => {
    const wrong = { ...entry(PLAIN), sha256: "0".repeat(64) };
    expect(await kindOf(readPackagesIndex(response(XZ), { entry: entry(XZ), compression: "xz" }, wrong, SEL, 1 << 30))).toMatch(/^hash-mismatch: .*\(decompressed\): SHA256/);
  });

  it("caps the decompressed size", async () => {
    expect(await kindOf(readPackagesIndex(response(GZ), { entry: entry(GZ), compression: "gz" }, null, SEL, 10_000))).toMatch(/^too-large: .*decompresses to more than 10000 bytes/);
  });

  it("calls a file that matches its hash but is not valid xz or gzip a parse error", async () => {
    for (const compression of ["xz", "gz"] as const) {
      expect(await kindOf(readPackagesIndex(response(PLAIN), { entry: entry(PLAIN), compression }, null, SEL, 1 << 30))).toMatch(/^parse-error: .*cannot be decompressed/);
    }
  });

  it("prefers the hash mismatch over a syntax error in a changed plain index", async () => {
    const broken = Buffer.from(TEXT.replace("Package: scap\n", "Package scap\n"));
    expect(await kindOf(readPackagesIndex(response(broken), { entry: entry(PLAIN), compression: "none" }, null, SEL, 1 << 30))).toMatch(/^hash-mismatch/);
    const signedBroken = Buffer.from("Package: scap\nVersion: 1.0\n bad continuation\nno colon\n");
    expect(await kindOf(readPackagesIndex(response(signedBroken), { entry: entry(signedBroken), compression: "none" }, null, SEL, 1 << 30))).toMatch(
      /^parse-error: .*line 4: expected "Field: value"/,
    );
  });

  it("keeps xz usable after an abandoned decompression", async () => {
    const bad = { ...entry(PLAIN), sha256: "0".repeat(64) };
    await kindOf(readPackagesIndex(response(XZ), { entry: entry(XZ), compression: "xz" }, bad, SEL, 1 << 30));
    await kindOf(readPackagesIndex(response(GZ), { entry: entry(GZ), compression: "xz" }, null, SEL, 1 << 30));
    const r = await readPackagesIndex(response(XZ), { entry: entry(XZ), compression: "xz" }, null, SEL, 1 << 30);
    expect(r.builds).toHaveLength(2);
  });

  it.each(["none", "gz", "xz"] as const)("keeps stanzas named exactly scap, wherever Package is and however the %s index ends", async (compression) => {
    const fields = (v: string) => `Version: ${v}\nArchitecture: all\nFilename: pool/${v}.deb\nSize: 1\nSHA256: ${"c".repeat(64)}\n`;
    const text =
      `Package: scap-extra\n${fields("1.0")}\n` +
      `Package: xscap\n${fields("1.1")}\n` +
      `${fields("1.2")}Description: Package is the last field\n more text\n .\n end\nPackage: scap\n\n` +
      `Package: scap \t\n${fields("1.3")}\n\n\n` +
      `Package: scapx\n${fields("1.4")}\n` +
      `Package: scap\n${fields("1.5").trimEnd()}`;
    const plain = Buffer.from(text);
    const data = compression === "none" ? plain : compression === "gz" ? gzipSync(plain) : execFileSync("xz", ["-6", "-c"], { input: plain });
    const r = await readPackagesIndex(response(data, { chunk: 7 }), { entry: entry(data), compression }, entry(plain), SEL, 1 << 30);
    expect(r.builds.map((b) => b.version)).toEqual(["1.2", "1.3", "1.5"]);
    expect(r.builds[0]!.fields.Description).toBe("Package is the last field\nmore text\n\nend");
    expect(r.builds[2]!.sha256).toBe("c".repeat(64));
    expect(r.paragraphs).toBe(6);
    expect(r.warnings).toEqual([]);
  });

  it("names the line of an unusable stanza and of a syntax error in any stanza", async () => {
    const good = `Package: a\nVersion: 1\n\n`;
    const data = Buffer.from(`${good}${good}Package: scap\nVersion: 1.0;reboot\nArchitecture: all\n`);
    const r = await readPackagesIndex(response(data), { entry: entry(data), compression: "none" }, null, SEL, 1 << 30);
    expect(r.warnings).toEqual([`${URL_}: stanza at line 7 (scap 1.0;reboot): Version is not a valid Debian version`]);
    const broken = Buffer.from(`${good}\n continued\n${good}`);
    expect(await kindOf(readPackagesIndex(response(broken), { entry: entry(broken), compression: "none" }, null, SEL, 1 << 30))).toBe(
      `parse-error: ${URL_}: line 5: continuation line before any field`,
    );
  });

  it("skips unusable stanzas with a warning and duplicate versions", async () => {
    const text =
      "Package: scap\nVersion: 1.0;reboot\nArchitecture: all\nFilename: a.deb\nSize: 1\nSHA256: " + "a".repeat(64) + "\n\n" +
      "Package: scap\nVersion: 1.1\nArchitecture: all\nFilename: ../etc/passwd\nSize: 1\nSHA256: " + "a".repeat(64) + "\n\n" +
      "Package: scap\nVersion: 1.2\nArchitecture: all\nFilename: b.deb\nSize: 1\nMD5sum: " + "a".repeat(32) + "\n\n" +
      "Package: scap\nVersion: 1.3\nArchitecture: all\nFilename: c.deb\nSize: 1\nSHA256: " + "A".repeat(64) + "\n\n" +
      "Package: scap\nVersion: 1.3\nArchitecture: all\nFilename: d.deb\nSize: 1\nSHA256: " + "b".repeat(64) + "\n";
    const data = Buffer.from(text);
    const r = await readPackagesIndex(response(data), { entry: entry(data), compression: "none" }, null, SEL, 1 << 30);
    expect(r.builds.map((b) => [b.version, b.filename, b.sha256])).toEqual([["1.3", "c.deb", "a".repeat(64)]]);
    expect(r.warnings).toHaveLength(4);
    expect(r.warnings.join("\n")).toMatch(/not a valid Debian version[\s\S]*not a plain relative path[\s\S]*no SHA256[\s\S]*listed twice/);
  });
});

describe("toBuild", () => {
  const stanzaWith = (f: string) => parseDeb822(`Package: scap\nVersion: 1.0\nArchitecture: all\nFilename: ${f}\nSize: 1\nSHA256: ${"a".repeat(64)}\n`)[0]!;

  it("refuses absolute, parent and URL file names", () => {
    for (const f of ["/etc/passwd", "pool/../../x.deb", "http://evil/x.deb", "pool/a b.deb", ""]) {
      expect(typeof toBuild(stanzaWith(f), SEL), f).toBe("string");
    }
  });

  it("refuses file names the URL parser would take out of the repository", () => {
    const escapes = [
      "pool/%2e%2e/%2e%2e/x.deb",
      "pool/%2E%2E/x.deb",
      "pool/.%2e/x.deb",
      "pool%2f..%2fx.deb",
      "pool\\..\\..\\x.deb",
      "pool/..\\x.deb",
      "\\\\evil\\x.deb",
      "a1+b:x.deb",
      "pool/x.deb?../../y",
      "pool/x.deb#frag",
    ];
    for (const f of escapes) expect(typeof toBuild(stanzaWith(f), SEL), f).toBe("string");
    // What the URL parser makes of the first: the reason a textual ".." check is not enough.
    expect(new URL("pool/%2e%2e/%2e%2e/x.deb", "http://h/repo/").href).toBe("http://h/x.deb");
    for (const f of ["pool/main/s/scap/scap_4.80.0-1+0~20261120093000.1~1.gbpabc123_all.deb", "./scap_1.0_all.deb", "scap_1:1.0_all.deb"]) {
      expect(toBuild(stanzaWith(f), SEL), f).toMatchObject({ filename: f });
    }
  });
});

describe("resolveUnder", () => {
  it("resolves inside the folder and refuses anything that leaves it", () => {
    expect(resolveUnder("http://h/repo/", "pool/x.deb")).toBe("http://h/repo/pool/x.deb");
    expect(resolveUnder("http://h/repo/", "pool/%2e%2e/%2e%2e/x.deb")).toBeNull();
    expect(resolveUnder("http://h/repo/", "pool/..\\..\\x.deb")).toBeNull();
    expect(resolveUnder("http://h/repo/", "//evil/x.deb")).toBeNull();
    expect(resolveUnder("http://h/repo/", "http://h/other/x.deb")).toBeNull();
    expect(resolveUnder("http://h/repo/", "x.deb?a")).toBeNull();
  });
});
