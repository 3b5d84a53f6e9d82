import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_INSTALL_COMMAND, parseConfig, readConfigFile } from "./config";

const VALID = `
repository:
  url: http://127.0.0.1:8080/
  keyring: keys/archive.asc
ssh:
  privateKeyPath: secrets/id_ed25519
  knownHostsPath: /etc/scap-channels/known_hosts
hosts:
  - name: deploy01
  - name: deploy02
    address: 10.0.0.2
channels:
  - name: canary
    hosts: [deploy01]
  - name: beta
    hosts: all
    requires: canary
    batchSize: 5
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "/etc/scap-channels/config.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("parseConfig", () => {
  it("fills defaults and resolves paths against the file's folder", () => {
    const c = parseConfig(VALID, "/etc/scap-channels/config.yaml");
    expect(c.repository.keyring).toBe("/etc/scap-channels/keys/archive.asc");
    expect(c.ssh.privateKeyPath).toBe("/etc/scap-channels/secrets/id_ed25519");
    expect(c.ssh.knownHostsPath).toBe("/etc/scap-channels/known_hosts");
    expect(c.repository).toMatchObject({ suite: "beta", component: "main", architecture: "amd64", package: "scap", unsigned: false });
    expect(c.commands.install).toBe(DEFAULT_INSTALL_COMMAND);
    expect(c.ssh.concurrency).toBe(50);
    expect(c.channels[1]).toMatchObject({ name: "beta", hosts: "all", requires: "canary", batchSize: 5, maxFailures: 0 });
  });

  it("names the key of each problem", () => {
    const text = VALID.replace("url: http://127.0.0.1:8080/", "url: ftp://mirror/").replace("hosts: [deploy01]", "hosts: [deploy09]") + "\nextra: 1\n";
    expect(problems(text).sort()).toEqual([
      "channels[0].hosts[0]: unknown host deploy09",
      "repository.url: must be an http(s) URL",
      "unknown key(s) extra",
    ]);
  });

  it("refuses a repository without a keyring unless it is declared unsigned", () => {
    expect(problems(VALID.replace("  keyring: keys/archive.asc\n", ""))).toEqual(["repository.keyring: is required unless repository.unsigned is true"]);
    expect(parseConfig(VALID.replace("  keyring: keys/archive.asc\n", "  unsigned: true\n"), "/c.yaml").repository.unsigned).toBe(true);
  });

  it("refuses duplicate hosts and channels, unknown requires, and bad names", () => {
    const text = VALID.replace("  - name: deploy02\n", "  - name: deploy01\n").replace("requires: canary", "requires: nightly").replace("- name: beta", "- name: Beta;rm");
    const p = problems(text);
    expect(p).toContain("hosts[1].name: duplicate host deploy01");
    expect(p).toContain("channels[1].requires: unknown channel nightly");
    expect(p.some((x) => x.startsWith("channels[1].name: must be lower-case"))).toBe(true);
  });

  it("reports YAML syntax errors with the line", () => {
    expect(problems("repository: [unclosed\n")[0]).toMatch(/^not valid YAML at line \d+/);
  });

  it("says when the file is missing", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "cfg-"));
    expect(() => readConfigFile(path.join(dir, "nope.yaml"))).toThrow(/nope\.yaml[\s\S]*file not found/);
    writeFileSync(path.join(dir, "ok.yaml"), VALID);
    expect(readConfigFile(path.join(dir, "ok.yaml")).repository.keyring).toBe(path.join(dir, "keys/archive.asc"));
  });
});

describe("command templates", () => {
  const withCommands = (lines: string) => `${VALID}\ncommands:\n${lines}\n`;
  it("accepts the defaults and plain placeholders", () => {
    const c = parseConfig(withCommands("  install: apt-get install -y {package}={version}\n  healthCheck: scap version"), "/c.yaml");
    expect(c.commands.install).toBe("apt-get install -y {package}={version}");
  });
  it("refuses an unknown or missing placeholder and a quoted one, naming the key", () => {
    expect(problems(withCommands("  install: apt-get install -y scap={verison}"))).toEqual([
      "commands.install: unknown placeholder(s) {verison}; allowed: {package}, {version}",
      "commands.install: must use {version}",
    ]);
    expect(problems(withCommands("  version: dpkg-query -W {package} {version}"))).toEqual(["commands.version: unknown placeholder(s) {version}; allowed: {package}"]);
    expect(problems(withCommands(`  install: apt-get install -y "scap={version}"`))).toEqual(["commands.install: placeholders are quoted when filled in; write them without quotes"]);
  });
});
