import { describe, expect, it } from "vitest";
import { RepositoryError } from "./errors";
import { checkRelease, parseRelease, selectPackagesIndex } from "./release";

const H = (c: string) => c.repeat(64);
const FILE = "http://repo.invalid/dists/beta/InRelease";

const RELEASE = `Origin: scap-sandbox
Label: scap-sandbox
Suite: beta
Codename: beta
Date: Tue, 24 Nov 2026 12:00:00 UTC
Valid-Until: Thu, 24 Dec 2026 12:00:00 UTC
Architectures: amd64 arm64
Components: main contrib
Description: Sandbox beta repository for scap
MD5Sum:
 ${"0".repeat(32)} 1234 main/binary-amd64/Packages
SHA256:
 ${H("a")} 1234 main/binary-amd64/Packages
 ${H("B")} 300 main/binary-amd64/Packages.gz
 ${H("c")} 250 main/binary-amd64/Packages.xz
 ${H("d")} 99 contrib/binary-amd64/Packages.gz
`;

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof RepositoryError) return e.kind;
    throw e;
  }
  return undefined;
}

describe("parseRelease", () => {
  it("reads dates, lists and the SHA256 section", () => {
    const r = parseRelease(RELEASE, FILE);
    expect(r.suite).toBe("beta");
    expect(r.date?.toISOString()).toBe("2026-11-24T12:00:00.000Z");
    expect(r.validUntil?.toISOString()).toBe("2026-12-24T12:00:00.000Z");
    expect(r.architectures).toEqual(["amd64", "arm64"]);
    expect(r.components).toEqual(["main", "contrib"]);
    expect(r.acquireByHash).toBe(false);
    expect(r.sha256.get("main/binary-amd64/Packages.gz")).toEqual({ path: "main/binary-amd64/Packages.gz", size: 300, sha256: H("b") });
    expect(r.sha256.size).toBe(4);
  });

  it("reads numeric time zones and Acquire-By-Hash", () => {
    const r = parseRelease(RELEASE.replace("Tue, 24 Nov 2026 12:00:00 UTC", "Tue, 24 Nov 2026 13:00:00 +0100") + "Acquire-By-Hash: yes\n", FILE);
    expect(r.date?.toISOString()).toBe("2026-11-24T12:00:00.000Z");
    expect(r.acquireByHash).toBe(true);
  });

  it("refuses a Release without SHA256, with malformed lines or bad dates", () => {
    const noSha = RELEASE.slice(0, RELEASE.indexOf("SHA256:"));
    expect(() => parseRelease(noSha, FILE)).toThrow(/lists no SHA256 hashes \(only MD5Sum, which are too weak/);
    expect(kindOf(() => parseRelease(RELEASE.replace(H("a"), "xyz"), FILE))).toBe("parse-error");
    expect(kindOf(() => parseRelease(RELEASE.replace(`${H("c")} 250`, `${H("c")} 2x0`), FILE))).toBe("parse-error");
    expect(() => parseRelease(RELEASE.replace("Tue, 24 Nov 2026 12:00:00 UTC", "yesterday"), FILE)).toThrow(/Date is not a date: "yesterday"/);
    expect(kindOf(() => parseRelease("", FILE))).toBe("parse-error");
    expect(kindOf(() => parseRelease("garbage without colon\n", FILE))).toBe("parse-error");
    expect(kindOf(() => parseRelease(`${RELEASE}\nOrigin: second paragraph\n`, FILE))).toBe("parse-error");
  });
});

describe("checkRelease", () => {
  const info = parseRelease(RELEASE, FILE);
  const now = new Date("2026-11-26T00:00:00Z");
  const base = { now, maxFutureSkewMs: 300_000 };

  it("accepts a fresh Release for the configured suite", () => {
    expect(() => checkRelease(info, FILE, { ...base, suite: "beta", previousDate: new Date("2026-11-20T00:00:00Z") })).not.toThrow();
  });

  it("refuses an expired Release, naming when it expired", () => {
    expect(() => checkRelease(info, FILE, { ...base, now: new Date("2026-12-25T00:00:00Z") })).toThrow(
      expect.objectContaining({ kind: "expired", message: expect.stringContaining("expired at 2026-12-24T12:00:00Z (Valid-Until)") }),
    );
  });

  it("allows small clock skew but refuses a Date in the future", () => {
    expect(() => checkRelease(info, FILE, { ...base, now: new Date("2026-11-24T11:58:00Z") })).not.toThrow();
    expect(kindOf(() => checkRelease(info, FILE, { ...base, now: new Date("2026-11-24T11:00:00Z") }))).toBe("expired");
  });

  it("refuses an older Release than the one accepted before (replay)", () => {
    expect(() => checkRelease(info, FILE, { ...base, previousDate: new Date("2026-11-25T00:00:00Z") })).toThrow(/possible replay/);
  });

  it("refuses a Release of another suite, and one without Date", () => {
    expect(() => checkRelease(info, FILE, { ...base, suite: "stable" })).toThrow(/for suite beta \(codename beta\), not the configured stable/);
    const noDate = parseRelease(RELEASE.replace(/^Date:.*\n/m, ""), FILE);
    expect(() => checkRelease(noDate, FILE, base)).toThrow(/no Date field/);
  });
});

describe("selectPackagesIndex", () => {
  const info = parseRelease(RELEASE, FILE);

  it("prefers .xz, then .gz, then plain, among the signed entries", () => {
    const s = selectPackagesIndex(info, { flat: false, component: "main", architecture: "amd64" }, FILE);
    expect(s.candidates.map((c) => [c.entry.path, c.compression])).toEqual([
      ["main/binary-amd64/Packages.xz", "xz"],
      ["main/binary-amd64/Packages.gz", "gz"],
      ["main/binary-amd64/Packages", "none"],
    ]);
    expect(s.uncompressed?.size).toBe(1234);
    const contrib = selectPackagesIndex(info, { flat: false, component: "contrib", architecture: "amd64" }, FILE);
    expect(contrib.candidates.map((c) => c.compression)).toEqual(["gz"]);
    expect(contrib.uncompressed).toBeNull();
  });

  it("says what the repository has when the component or architecture is missing", () => {
    expect(() => selectPackagesIndex(info, { flat: false, component: "main", architecture: "arm64" }, FILE)).toThrow(
      expect.objectContaining({ kind: "not-found", message: expect.stringContaining("components main contrib and architectures amd64 arm64") }),
    );
  });

  it("names unsupported compressions", () => {
    const bz = parseRelease(`Date: Tue, 24 Nov 2026 12:00:00 UTC\nSHA256:\n ${H("e")} 10 main/binary-amd64/Packages.bz2\n`, FILE);
    expect(() => selectPackagesIndex(bz, { flat: false, component: "main", architecture: "amd64" }, FILE)).toThrow(/only main\/binary-amd64\/Packages.bz2/);
  });

  it("looks next to the Release file for a flat repository", () => {
    const flat = parseRelease(`Date: Tue, 24 Nov 2026 12:00:00 UTC\nSHA256:\n ${H("e")} 10 Packages\n ${H("f")} 5 Packages.gz\n`, FILE);
    const s = selectPackagesIndex(flat, { flat: true, component: "main", architecture: "amd64" }, FILE);
    expect(s.candidates.map((c) => c.entry.path)).toEqual(["Packages.gz", "Packages"]);
  });
});
