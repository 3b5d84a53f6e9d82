import { describe, expect, it } from "vitest";
import { CONFIG_PROBLEM_NOTICE, configProblemFor } from "./config-details";

describe("configuration problems", () => {
  it("are shown in full, with their paths, to admins only", () => {
    const detail = "Invalid configuration in /etc/scap-channels/config.yaml:\n  - ssh.privateKeyPath: required";
    expect(configProblemFor("admin", detail)).toBe(detail);
    for (const role of ["deployer", "viewer", null, undefined] as const) {
      expect(configProblemFor(role, detail)).toBe(CONFIG_PROBLEM_NOTICE);
    }
    expect(CONFIG_PROBLEM_NOTICE).not.toMatch(/\//);
  });
});
