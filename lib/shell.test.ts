import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_INSTALL_COMMAND, DEFAULT_VERSION_COMMAND } from "./config-schema";
import { placeholders, renderCommand, shellQuote } from "./shell";

describe("shellQuote against a real shell", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "quote-"));
  const mark = path.join(dir, "MARK");
  const payloads = [
    `$(touch ${mark})`,
    `\`touch ${mark}\``,
    `; touch ${mark}`,
    `x' ; touch ${mark}; echo '`,
    `\ntouch ${mark}\n`,
    `a && touch ${mark}`,
    `| touch ${mark}`,
    `$HOME \\' " * ? [a] ~ {a,b}`,
  ];
  for (const payload of payloads) {
    it(`passes ${JSON.stringify(payload)} through verbatim`, () => {
      const out = execFileSync("sh", ["-c", `printf %s ${shellQuote(payload)}`], { encoding: "utf8" });
      expect(out).toBe(payload);
      expect(existsSync(mark)).toBe(false);
    });
  }

  it("refuses NUL bytes", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});

describe("renderCommand", () => {
  it("fills placeholders and leaves ${Shell} expansions alone", () => {
    expect(renderCommand(DEFAULT_VERSION_COMMAND, { package: "scap" })).toBe("dpkg-query -W -f='${db:Status-Abbrev} ${Version}' 'scap'");
    expect(renderCommand(DEFAULT_INSTALL_COMMAND, { package: "scap", version: "4.81.0-1" })).toContain(
      "--allow-downgrades 'scap'='4.81.0-1'",
    );
  });

  it("refuses an unknown placeholder", () => {
    expect(() => renderCommand("echo {nope}", {})).toThrow(/unknown placeholder \{nope\}/);
  });

  it("lists placeholders", () => {
    expect(placeholders(DEFAULT_INSTALL_COMMAND)).toEqual(["package", "version"]);
    expect(placeholders(DEFAULT_VERSION_COMMAND)).toEqual(["package"]);
  });
});
