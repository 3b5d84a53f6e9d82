import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

// The default templates rendered with hostile values and run by a real /bin/sh. sudo, apt-get and
// dpkg-query are fakes, found first on PATH, because the real ones need root and change the machine:
// they record the argv they were given, and the fake sudo runs the rest of its command line as sudo
// would, through the real env(1). touch stays real, so a value that escaped its quotes would leave
// the marker file behind.
describe("default commands with hostile values in a real shell", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "inject-"));
  const bin = path.join(dir, "bin");
  const log = path.join(dir, "argv");
  const mark = path.join(dir, "MARK");
  mkdirSync(bin);
  // Each call appends, NUL after each: argument count, program name, "=" + DEBIAN_FRONTEND (empty when unset), arguments.
  const fake = [
    "#!/bin/sh",
    'if [ "${DEBIAN_FRONTEND+x}" ]; then fe="=$DEBIAN_FRONTEND"; else fe=""; fi',
    `printf '%s\\0' "$#" "\${0##*/}" "$fe" "$@" >> "$ARGV_LOG"`,
    'if [ "${0##*/}" = sudo ]; then',
    '  [ "$1" = -n ] && shift',
    '  exec "$@"',
    "fi",
    "",
  ].join("\n");
  for (const name of ["sudo", "apt-get", "dpkg-query"]) {
    writeFileSync(path.join(bin, name), fake);
    chmodSync(path.join(bin, name), 0o755);
  }
  // Files for a glob to match, should one ever be expanded.
  for (const name of ["a1", "b2", "scap"]) writeFileSync(path.join(dir, name), "");

  type Call = { name: string; argv: string[]; frontend: string | null };
  function run(command: string): Call[] {
    rmSync(log, { force: true });
    rmSync(mark, { force: true });
    const env: NodeJS.ProcessEnv = { NODE_ENV: "test", PATH: `${bin}:/usr/bin:/bin`, ARGV_LOG: log, HOME: dir };
    execFileSync("/bin/sh", ["-c", command], { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
    const fields = readFileSync(log, "utf8").split("\0");
    const calls: Call[] = [];
    for (let i = 0; i < fields.length - 1; ) {
      const count = Number(fields[i]);
      const frontend = fields[i + 2]!;
      calls.push({ name: fields[i + 1]!, frontend: frontend ? frontend.slice(1) : null, argv: fields.slice(i + 3, i + 3 + count) });
      i += 3 + count;
    }
    return calls;
  }

  const payloads = [
    `$(touch ${mark})`,
    `\`touch ${mark}\``,
    `;touch ${mark}`,
    `; touch ${mark};`,
    `| touch ${mark}`,
    `&& touch ${mark}`,
    `|| touch ${mark}`,
    `& touch ${mark} &`,
    `\ntouch ${mark}\n`,
    `\r\ntouch ${mark}`,
    `x'; touch ${mark}; echo '`,
    `x' '$(touch ${mark})`,
    `x"; touch ${mark}; echo "`,
    `"$(touch ${mark})"`,
    `$(touch\${IFS}${mark})`,
    `';touch\${IFS}${mark};'`,
    `\${IFS}`,
    `> ${mark}`,
    `< /etc/passwd`,
    `*`,
    `?2`,
    `[ab]*`,
    `/*`,
    `~ ~root {a,b} $HOME $0 $$ !!`,
    `\\' \\" \\$(touch ${mark})`,
    `'`,
    `"`,
    `\t`,
    `-o APT::Get::Allow-Unauthenticated=true`,
  ];

  it("detects an escape: the same payload unquoted does create the marker", () => {
    execFileSync("/bin/sh", ["-c", `echo ${payloads[0]}`], { stdio: "ignore" });
    expect(existsSync(mark)).toBe(true);
    rmSync(mark);
  });

  for (const payload of payloads) {
    it(`install command passes ${JSON.stringify(payload)} as one argument`, () => {
      for (const values of [
        { package: "scap", version: payload },
        { package: payload, version: "4.81.0-1" },
        { package: payload, version: payload },
      ]) {
        const target = `${values.package}=${values.version}`;
        const calls = run(renderCommand(DEFAULT_INSTALL_COMMAND, values));
        expect(existsSync(mark)).toBe(false);
        expect(calls).toEqual([
          { name: "sudo", argv: ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update", "-q", "--error-on=any"], frontend: null },
          { name: "apt-get", argv: ["update", "-q", "--error-on=any"], frontend: "noninteractive" },
          { name: "sudo", argv: ["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--allow-downgrades", target], frontend: null },
          { name: "apt-get", argv: ["install", "-y", "-q", "--allow-downgrades", target], frontend: "noninteractive" },
        ]);
      }
    });

    it(`version command passes ${JSON.stringify(payload)} as one argument`, () => {
      const calls = run(renderCommand(DEFAULT_VERSION_COMMAND, { package: payload }));
      expect(existsSync(mark)).toBe(false);
      expect(calls).toEqual([{ name: "dpkg-query", argv: ["-W", "-f=${db:Status-Abbrev} ${Version}", payload], frontend: null }]);
    });
  }

  it("refuses NUL in either value", () => {
    expect(() => renderCommand(DEFAULT_INSTALL_COMMAND, { package: "scap", version: `1.0\0; touch ${mark}` })).toThrow(/NUL/);
    expect(() => renderCommand(DEFAULT_INSTALL_COMMAND, { package: "sc\0ap", version: "1.0" })).toThrow(/NUL/);
    expect(() => renderCommand(DEFAULT_VERSION_COMMAND, { package: "\0" })).toThrow(/NUL/);
  });
});
