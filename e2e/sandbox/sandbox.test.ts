// The sandbox against the real tools: OpenSSH client, apt-get, dpkg-query, gpgv-backed apt
// signature checks. One 3-host sandbox for the file; every test undoes the fault it sets.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { configSchema, DEFAULT_INSTALL_COMMAND } from "../../lib/config-schema";
import { renderCommand } from "../../lib/shell";
import * as sandbox from "./index";
import type { Sandbox, SandboxHost } from "./index";
import { claimOctet, REGISTRY_DIR, releaseClaim } from "./state";
import { isAlive, probeTcp, run, type Proc } from "./util";

const [OLD, MIDDLE, NEW] = sandbox.DEFAULT_VERSIONS as [string, string, string];
const NEWER = "4.82.0-1+0~20261201101500.2~1.gbp123fed";

// The old scaps-installed-in-beta script's query, run unchanged on every host.
const versionCommand = "dpkg-query -W -f='${Version}' scap";
const installCommand = (version: string) => renderCommand(DEFAULT_INSTALL_COMMAND, { package: "scap", version });
const updateCommand = "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q --error-on=any";

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

let dir: string;
let sb: Sandbox;
let machineStatusBefore: string;
let machineDpkgLogBefore: string;

/** The plain OpenSSH client with only the sandbox's key and known_hosts. */
async function ssh(host: SandboxHost, command: string, connectTimeoutSeconds = 5) {
  const started = Date.now();
  const r = await run(
    "ssh",
    [
      "-F",
      "/dev/null",
      "-i",
      sb.privateKeyPath,
      "-o",
      `UserKnownHostsFile=${sb.knownHostsPath}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      `ConnectTimeout=${connectTimeoutSeconds}`,
      `root@${host.address}`,
      command,
    ],
    { allowFail: true, timeoutMs: 120_000 },
  );
  return { ...r, ms: Date.now() - started };
}

const host = (name: string) => sb.hosts.find((h) => h.name === name)!;

async function versionOverSsh(name: string): Promise<string> {
  const r = await ssh(host(name), versionCommand);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

function forgetIndexes(name: string): void {
  // A host that has never fetched the index (or holds an older one) must download Packages.
  const lists = path.join(host(name).root, "var/lib/apt/lists");
  for (const f of fs.readdirSync(lists)) if (f.startsWith("127.0.0.1")) fs.rmSync(path.join(lists, f));
}

beforeAll(async () => {
  machineStatusBefore = sha256("/var/lib/dpkg/status");
  machineDpkgLogBefore = sha256("/var/log/dpkg.log");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "scap-sandbox-test-"));
  sb = await sandbox.up({ hosts: 3, dir });
});

afterAll(async () => {
  if (dir) {
    await sandbox.down(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe("sandbox beta cluster", () => {
  it("publishes the versions in Debian order and writes a valid app config", async () => {
    expect(sb.versions).toEqual([OLD, MIDDLE, NEW]);
    for (const [a, b] of [[OLD, MIDDLE], [MIDDLE, NEW]] as const) {
      expect((await run("dpkg", ["--compare-versions", a, "lt", b], { allowFail: true })).code).toBe(0);
    }
    const config = configSchema.parse(YAML.parse(fs.readFileSync(sb.configPath, "utf8")));
    expect(config.repository.url).toBe(sb.repoUrl);
    expect(config.repository.keyring).toBe(sb.keyringPath);
    expect(config.hosts.map((h) => h.address)).toEqual(sb.hosts.map((h) => h.address));
    expect(config.channels.find((c) => c.name === "canary")!.hosts).toEqual(["beta01"]);
    expect(config.channels.find((c) => c.name === "beta")).toMatchObject({ hosts: "all", requires: "canary" });
    expect(fs.readFileSync(sb.keyringPath, "utf8")).toContain("BEGIN PGP PUBLIC KEY BLOCK");
    expect(await sandbox.load(dir)).toEqual(sb);
  });

  it("serves InRelease signed by the keyring's key (gpgv) with ETag, Last-Modified and 304s", async () => {
    const inRelease = path.join(dir, "InRelease.check");
    const res = await fetch(`${sb.repoUrl}dists/beta/InRelease`);
    expect(res.status).toBe(200);
    fs.writeFileSync(inRelease, Buffer.from(await res.arrayBuffer()));
    const verify = await run("gpgv", ["--keyring", path.join(dir, "repository-key.gpg"), inRelease], { allowFail: true });
    expect(verify.code, verify.stderr).toBe(0);
    expect(fs.readFileSync(inRelease, "utf8")).toMatch(/^Valid-Until: /m);
    const etag = res.headers.get("etag")!;
    const lastModified = res.headers.get("last-modified")!;
    expect(etag).toBeTruthy();
    expect((await fetch(`${sb.repoUrl}dists/beta/InRelease`, { headers: { "If-None-Match": etag } })).status).toBe(304);
    expect((await fetch(`${sb.repoUrl}dists/beta/InRelease`, { headers: { "If-Modified-Since": lastModified } })).status).toBe(304);
    expect((await fetch(`${sb.repoUrl}dists/beta/main/binary-amd64/Packages.xz`)).status).toBe(200);
  });

  it("starts every host with the middle version, seen over ssh", async () => {
    for (const h of sb.hosts) expect(await versionOverSsh(h.name)).toBe(MIDDLE);
  });

  it("keeps hosts independent: a version set on one host is not seen on another", async () => {
    await sandbox.setInstalled(sb, "beta02", OLD);
    try {
      expect(await sandbox.installedVersion(sb, "beta02")).toBe(OLD);
      expect(await versionOverSsh("beta02")).toBe(OLD);
      expect(await versionOverSsh("beta01")).toBe(MIDDLE);
      expect(await sandbox.installedVersion(sb, "beta03")).toBe(MIDDLE);

      await sandbox.setInstalled(sb, "beta02", null);
      const none = await ssh(host("beta02"), versionCommand);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain("no packages found matching scap");
      expect(await sandbox.installedVersion(sb, "beta02")).toBeNull();
      expect(await versionOverSsh("beta01")).toBe(MIDDLE);
    } finally {
      await sandbox.setInstalled(sb, "beta02", MIDDLE);
    }
  });

  it("upgrades and downgrades with the real default install command", async () => {
    const up = await ssh(host("beta01"), installCommand(NEW));
    expect(up.code, up.stderr).toBe(0);
    expect(await versionOverSsh("beta01")).toBe(NEW);
    const scap = await ssh(host("beta01"), "scap");
    expect(scap.stdout.trim()).toBe(NEW);

    const downgrade = await ssh(host("beta01"), installCommand(OLD));
    expect(downgrade.code, downgrade.stderr).toBe(0);
    expect(downgrade.stdout).toContain("The following packages will be DOWNGRADED");
    expect(await versionOverSsh("beta01")).toBe(OLD);
    expect(await versionOverSsh("beta02")).toBe(MIDDLE);

    expect((await ssh(host("beta01"), installCommand(MIDDLE))).code).toBe(0);
    expect(await sandbox.installedVersion(sb, "beta01")).toBe(MIDDLE);
  });

  it("fails an unknown version with exit 100", async () => {
    const r = await ssh(host("beta01"), installCommand("9.9.9-1"));
    expect(r.code).toBe(100);
    expect(r.stderr).toContain("Version '9.9.9-1' for 'scap' was not found");
    expect(await versionOverSsh("beta01")).toBe(MIDDLE);
  });

  it("stopHost: connection refused; startHost: back", async () => {
    await sandbox.stopHost(sb, "beta03");
    try {
      const r = await ssh(host("beta03"), "true");
      expect(r.code).toBe(255);
      expect(r.stderr).toContain("Connection refused");
    } finally {
      await sandbox.startHost(sb, "beta03");
    }
    expect(await versionOverSsh("beta03")).toBe(MIDDLE);
  });

  it("hangHost: TCP accepted, no banner, ssh's ConnectTimeout expires", async () => {
    await sandbox.hangHost(sb, "beta03");
    try {
      expect(await probeTcp(host("beta03").address, 22)).toBe("open");
      const r = await ssh(host("beta03"), "true", 2);
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/timed out/i);
      expect(r.ms).toBeGreaterThanOrEqual(1900);
    } finally {
      await sandbox.startHost(sb, "beta03");
    }
    expect(await versionOverSsh("beta03")).toBe(MIDDLE);
  });

  it("changeHostKey: ssh refuses the new key; restoreHostKey undoes it", async () => {
    await sandbox.changeHostKey(sb, "beta03");
    try {
      const r = await ssh(host("beta03"), "true");
      expect(r.code).toBe(255);
      expect(r.stderr).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
      expect(r.stderr).toContain("Host key verification failed");
    } finally {
      await sandbox.restoreHostKey(sb, "beta03");
    }
    expect(await versionOverSsh("beta03")).toBe(MIDDLE);
  });

  it("repository down: connection refused, apt-get update --error-on=any exits 100", async () => {
    await sandbox.setRepositoryMode(sb, "down");
    try {
      await expect(fetch(`${sb.repoUrl}dists/beta/InRelease`)).rejects.toMatchObject({ cause: { code: "ECONNREFUSED" } });
      const r = await ssh(host("beta01"), updateCommand);
      expect(r.code).toBe(100);
      expect(r.stdout + r.stderr).toContain("Connection refused");
    } finally {
      await sandbox.setRepositoryMode(sb, "up");
    }
    expect((await ssh(host("beta01"), updateCommand)).code).toBe(0);
  });

  it("repository slow answers after the delay; hang accepts and never answers", async () => {
    await sandbox.setRepositoryMode(sb, "slow", { delayMs: 800 });
    try {
      const started = Date.now();
      expect((await fetch(`${sb.repoUrl}dists/beta/InRelease`)).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(750);
      await sandbox.setRepositoryMode(sb, "hang");
      await expect(fetch(`${sb.repoUrl}dists/beta/InRelease`, { signal: AbortSignal.timeout(1500) })).rejects.toMatchObject({ name: "TimeoutError" });
    } finally {
      await sandbox.setRepositoryMode(sb, "up");
    }
    expect((await fetch(`${sb.repoUrl}dists/beta/InRelease`)).status).toBe(200);
  });

  it.each([
    ["bad-signature", "BADSIG"],
    ["other-key", "NO_PUBKEY"],
    ["expired", "is expired"],
  ] as const)("tamper %s: apt-get update --error-on=any exits 100 (%s)", async (fault, message) => {
    await sandbox.tamperRepository(sb, fault);
    try {
      const r = await ssh(host("beta01"), updateCommand);
      expect(r.code).toBe(100);
      expect(r.stdout + r.stderr).toContain(message);
    } finally {
      await sandbox.restoreRepository(sb);
    }
    expect((await ssh(host("beta01"), updateCommand)).code).toBe(0);
  });

  it("tamper packages: same size, SHA256 differs from InRelease; apt says Hash Sum mismatch", async () => {
    await sandbox.tamperRepository(sb, "packages");
    try {
      const inRelease = await (await fetch(`${sb.repoUrl}dists/beta/InRelease`)).text();
      const xz = Buffer.from(await (await fetch(`${sb.repoUrl}dists/beta/main/binary-amd64/Packages.xz`)).arrayBuffer());
      const listed = new RegExp(`^ ([0-9a-f]{64})\\s+(\\d+) main/binary-amd64/Packages\\.xz$`, "m").exec(inRelease.split("SHA256:")[1]!)!;
      expect(xz.length).toBe(Number(listed[2]));
      expect(crypto.createHash("sha256").update(xz).digest("hex")).not.toBe(listed[1]);
      forgetIndexes("beta02");
      const r = await ssh(host("beta02"), updateCommand);
      expect(r.code).toBe(100);
      expect(r.stdout + r.stderr).toContain("Hash Sum mismatch");
    } finally {
      await sandbox.restoreRepository(sb);
    }
    expect((await ssh(host("beta02"), updateCommand)).code).toBe(0);
  });

  it("tamper truncated: Packages shorter than InRelease says; apt fails", async () => {
    await sandbox.tamperRepository(sb, "truncated");
    try {
      const inRelease = await (await fetch(`${sb.repoUrl}dists/beta/InRelease`)).text();
      const plain = Buffer.from(await (await fetch(`${sb.repoUrl}dists/beta/main/binary-amd64/Packages`)).arrayBuffer());
      const listed = /^ [0-9a-f]{64}\s+(\d+) main\/binary-amd64\/Packages$/m.exec(inRelease.split("SHA256:")[1]!)!;
      expect(plain.length).toBeLessThan(Number(listed[1]));
      forgetIndexes("beta02");
      const r = await ssh(host("beta02"), updateCommand);
      expect(r.code).toBe(100);
      expect(r.stdout + r.stderr).toMatch(/unexpected size|Hash Sum mismatch/);
    } finally {
      await sandbox.restoreRepository(sb);
    }
    expect((await ssh(host("beta02"), updateCommand)).code).toBe(0);
  });

  it("tamper deb: install fails with Hash Sum mismatch, installed version unchanged", async () => {
    // beta03 has never downloaded NEW: apt would install a good copy from its own cache.
    expect(fs.readdirSync(path.join(host("beta03").root, "var/cache/apt/archives")).some((f) => f.endsWith(".deb"))).toBe(false);
    await sandbox.tamperRepository(sb, "deb", { version: NEW });
    try {
      const r = await ssh(host("beta03"), installCommand(NEW));
      expect(r.code).toBe(100);
      expect(r.stdout + r.stderr).toContain("Hash Sum mismatch");
      expect(await versionOverSsh("beta03")).toBe(MIDDLE);
    } finally {
      await sandbox.restoreRepository(sb);
    }
    expect((await ssh(host("beta03"), installCommand(NEW))).code).toBe(0);
    expect((await ssh(host("beta03"), installCommand(MIDDLE))).code).toBe(0);
  });

  it("publishBuild makes a new version installable; removeBuild takes it away", async () => {
    expect((await ssh(host("beta02"), installCommand(NEWER))).code).toBe(100);
    await sandbox.publishBuild(sb, NEWER);
    expect(sb.versions).toEqual([OLD, MIDDLE, NEW, NEWER]);
    const r = await ssh(host("beta02"), installCommand(NEWER));
    expect(r.code, r.stderr).toBe(0);
    expect(await versionOverSsh("beta02")).toBe(NEWER);

    await sandbox.removeBuild(sb, NEWER);
    expect(sb.versions).toEqual([OLD, MIDDLE, NEW]);
    expect((await ssh(host("beta02"), installCommand(MIDDLE))).code).toBe(0);
    const policy = await ssh(host("beta02"), "apt-cache policy scap");
    expect(policy.stdout).toContain(NEW);
    expect(policy.stdout).not.toContain(NEWER);
    expect((await ssh(host("beta02"), installCommand(NEWER))).code).toBe(100);
    expect(await versionOverSsh("beta02")).toBe(MIDDLE);
  });

  it("leaves the machine's own dpkg database and log untouched", () => {
    expect(sha256("/var/lib/dpkg/status")).toBe(machineStatusBefore);
    expect(sha256("/var/log/dpkg.log")).toBe(machineDpkgLogBefore);
  });

  it("down stops every process and leaves nothing listening", async () => {
    const procs: Proc[] = await sandbox.sandboxProcesses(sb);
    expect(procs.length).toBeGreaterThanOrEqual(4);
    // An ssh session left open must not survive down either.
    const session = run("ssh", ["-F", "/dev/null", "-i", sb.privateKeyPath, "-o", `UserKnownHostsFile=${sb.knownHostsPath}`, "-o", "BatchMode=yes", `root@${sb.hosts[0]!.address}`, "sleep 60"], { allowFail: true });
    await new Promise((r) => setTimeout(r, 500));
    const withSession = await sandbox.sandboxProcesses(sb);
    expect(withSession.length).toBeGreaterThan(procs.length);
    const claim = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")).claimPath as string;

    await sandbox.down(dir);
    await session;
    for (const p of withSession) expect(isAlive(p), `pid ${p.pid}`).toBe(false);
    for (const h of sb.hosts) expect(await probeTcp(h.address, h.port)).toBe("refused");
    expect(await probeTcp("127.0.0.1", Number(new URL(sb.repoUrl).port))).toBe("refused");
    expect(fs.existsSync(claim)).toBe(false);
    expect(fs.existsSync(path.join(dir, "state.json"))).toBe(false);
    await expect(sandbox.load(dir)).rejects.toThrow(/no sandbox/);
  });
});

describe("restarts and refusals", () => {
  it("up on a DIR whose previous run was never stopped replaces it", async () => {
    const again = fs.mkdtempSync(path.join(os.tmpdir(), "scap-sandbox-test-"));
    try {
      const first = await sandbox.up({ hosts: 1, dir: again, installed: null });
      const firstProcs = await sandbox.sandboxProcesses(first);
      // A stale registry claim from a process that no longer exists is taken over, not a blocker.
      fs.writeFileSync(path.join(REGISTRY_DIR, "250.json"), JSON.stringify({ dir: "/nonexistent", owner: { pid: 999_999_999, start: "1" }, pids: [], claimedAt: "" }));
      const second = await sandbox.up({ hosts: 1, dir: again, installed: OLD });
      for (const p of firstProcs) expect(isAlive(p)).toBe(false);
      expect(await sandbox.installedVersion(second, "beta01")).toBe(OLD);
      const r = await run("ssh", ["-F", "/dev/null", "-i", second.privateKeyPath, "-o", `UserKnownHostsFile=${second.knownHostsPath}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", `root@${second.hosts[0]!.address}`, versionCommand], { allowFail: true });
      expect(r.stdout).toBe(OLD);
    } finally {
      await sandbox.down(again);
      fs.rmSync(again, { recursive: true, force: true });
      fs.rmSync(path.join(REGISTRY_DIR, "250.json"), { force: true });
    }
  });

  it("rejects bad input before running anything", async () => {
    await expect(sandbox.up({ hosts: 0, dir: "/tmp/x" })).rejects.toThrow(/hosts must be/);
    await expect(sandbox.up({ hosts: 1, dir: "/tmp/has space" })).rejects.toThrow(/may only contain/);
    await expect(sandbox.up({ hosts: 1, dir: "/tmp/x", versions: ["1.0;touch /tmp/pwned"] })).rejects.toThrow(/not a Debian version/);
    const cli = await run(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "cli.ts"), "set-installed", "--dir", "/tmp/x", "beta01", "$(touch /tmp/pwned)"], { allowFail: true, cwd: path.resolve(import.meta.dirname, "../..") });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain("not a Debian version");
    expect(fs.existsSync("/tmp/pwned")).toBe(false);
  });

  it("claims distinct address blocks and skips one with a foreign listener", () => {
    const a = claimOctet("/tmp/scap-sandbox-claim-test-a", () => false);
    try {
      const b = claimOctet("/tmp/scap-sandbox-claim-test-b", (octet) => octet === a.octet + 1);
      try {
        expect(b.octet).not.toBe(a.octet);
        expect(b.octet).not.toBe(a.octet + 1);
        expect(JSON.parse(fs.readFileSync(b.claimPath, "utf8")).dir).toBe("/tmp/scap-sandbox-claim-test-b");
      } finally {
        releaseClaim(b.claimPath, "/tmp/scap-sandbox-claim-test-b");
      }
    } finally {
      releaseClaim(a.claimPath, "/tmp/scap-sandbox-claim-test-a");
    }
  });
});
