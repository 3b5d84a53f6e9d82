import { describe, expect, it } from "vitest";
import { redactCommand } from "./errors";

describe("redactCommand", () => {
  it("masks values that look like credentials", () => {
    expect(redactCommand("API_TOKEN=abc123 curl --password 'x y' -u me")).toBe("API_TOKEN=*** curl --password *** -u me");
    expect(redactCommand("dpkg-query -W -f='${Version}' 'scap'")).toBe("dpkg-query -W -f='${Version}' 'scap'");
  });
});
