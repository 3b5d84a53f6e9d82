import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { compareVersions, isValidVersion, parseBetaVersion, parseVersion, VersionError } from "./version";

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe("compareVersions", () => {
  const cases: [string, "<" | "=" | ">", string][] = [
    ["1.0", "<", "1.1"],
    ["1.0", "=", "1.0"],
    ["1.0", "=", "0:1.0"],
    ["1.0", "=", "1.0-0"],
    ["1.0-1", "<", "1.0-2"],
    ["1:0.1", ">", "9.9"],
    ["1.0~rc1", "<", "1.0"],
    ["1.0~~", "<", "1.0~"],
    ["1.0~", "<", "1.0"],
    ["1.0~~a", "<", "1.0~"],
    ["1.0", "<", "1.0a"],
    ["1.0a", "<", "1.0+"],
    ["1.0a", "<", "1.0."],
    ["1.0+", "<", "1.0."],
    ["1.0", "<", "1.0.0"],
    ["1.01", "=", "1.1"],
    ["1.0010", ">", "1.9"],
    ["2.0", "<", "10~"],
    ["A", "<", "a"],
    ["1.2.3-1ubuntu1", ">", "1.2.3-1"],
    ["1.2.3-1~bpo1", "<", "1.2.3-1"],
    ["4.80.0-1+0~20261120093000.1~1.gbpabc123", "<", "4.81.0-1+0~20261124120000.7~1.gbpdef456"],
    ["4.81.0-1+0~20261124120000.7~1.gbpdef456", ">", "4.81.0-1"],
    ["4.81.0-1+0~20261124120000.7~1.gbpdef456", "<", "4.81.0-2~"],
    ["4.81.0-1+0~20261124120000.7~1.gbpdef456", "<", "4.81.0-1+0~20261124120000.8~1.gbp000000"],
    ["99999999999999999999999", "<", "100000000000000000000000"],
  ];
  it.each(cases)("%s %s %s", (a, rel, b) => {
    const want = rel === "<" ? -1 : rel === "=" ? 0 : 1;
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(want === 0 ? 0 : -want);
  });

  it("throws for what dpkg cannot parse", () => {
    for (const v of ["", "  ", ":1.0", "a:1.0", "1:", "1.0-", "1 0", "99999999999:1"]) {
      expect(() => parseVersion(v), v).toThrow(VersionError);
    }
  });

  it("splits epoch, upstream and the revision after the last hyphen", () => {
    expect(parseVersion("2:1.0-rc-3")).toEqual({ epoch: 2, upstream: "1.0-rc", revision: "3" });
    expect(parseVersion("1.0")).toEqual({ epoch: 0, upstream: "1.0", revision: "" });
  });

  it("agrees with dpkg --compare-versions on thousands of generated pairs", () => {
    const rand = mulberry32(0x5ca9);
    const pairs: [string, string][] = [];
    for (let i = 0; i < 3000; i++) {
      const a = randomVersion(rand);
      // Half the pairs are near misses of each other, where ordering bugs hide.
      const b = rand() < 0.5 ? mutate(a, rand) : randomVersion(rand);
      pairs.push([a, b]);
    }
    for (const [a, b] of pairs) expect(isValidVersion(a) && isValidVersion(b), `${a} ${b}`).toBe(true);
    // The hand-written cases above go through dpkg too (dpkg only warns about "A" and "a").
    pairs.push(...cases.map(([a, , b]) => [a, b] as [string, string]));
    const script = pairs
      .map(([a, b]) => `if dpkg --compare-versions '${a}' lt '${b}'; then echo -1; elif dpkg --compare-versions '${a}' gt '${b}'; then echo 1; else echo 0; fi`)
      .join("\n");
    const out = execFileSync("sh", ["-s"], { input: script, encoding: "utf8", maxBuffer: 1 << 24, stdio: ["pipe", "pipe", "ignore"] }).trim().split("\n");
    expect(out).toHaveLength(pairs.length);
    const mismatches = pairs
      .map(([a, b], i) => ({ a, b, dpkg: Number(out[i]), ours: sign(compareVersions(a, b)) }))
      .filter((r) => r.dpkg !== r.ours);
    expect(mismatches).toEqual([]);
    // The generator must produce all three outcomes, or the check proves little.
    expect(new Set(out)).toEqual(new Set(["-1", "0", "1"]));
  }, 60_000);
});

describe("isValidVersion", () => {
  it("accepts policy versions", () => {
    for (const v of ["1.0", "0:1.0-1", "1:2.3.4+dfsg-1~bpo12+1", "4.81.0-1+0~20261124120000.7~1.gbpdef456", "1.0-rc-1", "2.0~beta1", "01:1.0"]) {
      expect(isValidVersion(v), v).toBe(true);
    }
  });

  it("rejects shell metacharacters, spaces, empty and bad epochs", () => {
    const bad = [
      "",
      " 1.0",
      "1.0 ",
      "1.0 -1",
      "1.0\n",
      "1.0;reboot",
      "1.0$(touch x)",
      "1.0`id`",
      "1.0'",
      '1.0"',
      "1.0|cat",
      "1.0&",
      "1.0>x",
      "1.0*",
      "a1.0",
      ".1",
      "~1",
      "1.0-",
      "1.0_1",
      "1.0-1:2",
      "1:2:3",
      ":1.0",
      "a:1.0",
      "-1:1.0",
      "99999999999:1.0",
      "1:",
      "1.0-a-b_c",
      "1.0-1/2",
    ];
    for (const v of bad) expect(isValidVersion(v), JSON.stringify(v)).toBe(false);
  });
});

describe("parseBetaVersion", () => {
  it("reads the snapshot stamp and commit", () => {
    expect(parseBetaVersion("4.81.0-1+0~20261124120000.7~1.gbpdef456")).toEqual({
      upstream: "4.81.0",
      buildTime: new Date("2026-11-24T12:00:00Z"),
      gitCommit: "def456",
    });
    expect(parseBetaVersion("4.79.0-1+0~20261101080000.3~1.gbp000aaa").buildTime?.toISOString()).toBe("2026-11-01T08:00:00.000Z");
  });

  it("returns nulls for a release build and for impossible stamps", () => {
    expect(parseBetaVersion("4.81.0-1")).toEqual({ upstream: "4.81.0", buildTime: null, gitCommit: null });
    expect(parseBetaVersion("4.81.0-1+0~20261340120000.7").buildTime).toBeNull();
    expect(parseBetaVersion("not a version")).toEqual({ upstream: "not a version", buildTime: null, gitCommit: null });
  });

  it("handles native snapshot versions", () => {
    expect(parseBetaVersion("4.81.0+0~20261124120000.7~1.gbpdef456")).toEqual({
      upstream: "4.81.0",
      buildTime: new Date("2026-11-24T12:00:00Z"),
      gitCommit: "def456",
    });
  });
});

// Small seeded PRNG so a failure reproduces.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T,>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const PIECES = ["0", "1", "2", "9", "10", "01", "007", "a", "b", "z", "A", "Z", "rc", "~", "~~", "+", ".", "~a", "+b", "dfsg", "gbp", "20261124120000"];
const REV_PIECES = PIECES.filter((p) => p !== "-");

function fragment(rand: () => number, pieces: readonly string[], max: number): string {
  let s = "";
  const n = 1 + Math.floor(rand() * max);
  for (let i = 0; i < n; i++) s += pick(rand, pieces);
  return s;
}

function randomVersion(rand: () => number): string {
  const epoch = rand() < 0.15 ? `${pick(rand, ["0", "1", "2", "10"])}:` : "";
  let upstream = pick(rand, ["0", "1", "4", "10"]) + fragment(rand, PIECES, 5);
  let revision = "";
  if (rand() < 0.7) {
    revision = "-" + fragment(rand, REV_PIECES, 4);
    if (rand() < 0.2) upstream += "-" + fragment(rand, PIECES, 2);
  }
  return epoch + upstream + revision;
}

function mutate(v: string, rand: () => number): string {
  const ops = [
    () => v + pick(rand, ["~", "+", ".", "a", "0", "1", "~1"]),
    () => v.replace(/[0-9]/, pick(rand, ["0", "00", "1", "9"])),
    () => v.replace(/~/, pick(rand, ["", "~~", "+", "."])),
    () => (v.includes(":") ? v.slice(v.indexOf(":") + 1) : `0:${v}`),
    () => (v.includes("-") ? `${v}0` : `${v}-0`),
  ];
  const m = pick(rand, ops)();
  return isValidVersion(m) ? m : v;
}
