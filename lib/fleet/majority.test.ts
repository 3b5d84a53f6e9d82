import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { mostCommonVersion } from "./majority";

const dpkgGreater = (a: string, b: string) => {
  try {
    execFileSync("dpkg", ["--compare-versions", a, "gt", b]);
    return true;
  } catch {
    return false;
  }
};

describe("mostCommonVersion", () => {
  it("takes the version most often seen", () => {
    expect(mostCommonVersion(["1.0-1", "2.0-1", "1.0-1"])).toBe("1.0-1");
    expect(mostCommonVersion([null, null, "2.0-1"])).toBeNull();
    expect(mostCommonVersion([])).toBeUndefined();
  });

  it("gives a tie to the newest version in dpkg's order, and never to not-installed", () => {
    // "~" sorts before everything, so the plain release is the newer one.
    const [older, newest] = ["4.80.0-1~beta1", "4.80.0-1"];
    expect(dpkgGreater(newest, older)).toBe(true);
    expect(mostCommonVersion([older, newest])).toBe(newest);
    expect(mostCommonVersion([newest, older])).toBe(newest);
    expect(mostCommonVersion([null, older])).toBe(older);
    expect(mostCommonVersion([older, null])).toBe(older);
    expect(mostCommonVersion(["1:0.1-1", "9.9-1", "9.9-1", "1:0.1-1"])).toBe("1:0.1-1");
  });
});
