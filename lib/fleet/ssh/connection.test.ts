// Connecting to real sshd hosts of the sandbox cluster: refusals, timeouts, host keys checked
// against known_hosts, authentication, DNS, and a jump host.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changeHostKey, hangHost, startHost, stopHost } from "../../../e2e/sandbox";
import type { HostConfig, SshConfig } from "../../config";
import { knownHostsVariant, startBastion, startSandbox, type FleetSandbox } from "../testing";
import { createFleetTransport, type FleetTransport } from ".";
import { failure } from "./testing";

let fx: FleetSandbox;
let ssh: SshConfig;
let transport: FleetTransport;
let hosts: HostConfig[];
const others: FleetTransport[] = [];

// known_hosts lines for the keys the hosts serve now (changeHostKey leaves the sandbox's file stale).
function currentKeys(): string[] {
  return fx.sb.hosts.map((h) => `${h.address},${h.name} ${fx.hostKeyLine(h.name)}`);
}

function host(name: string): HostConfig {
  return hosts.find((h) => h.name === name)!;
}

function transportWith(overrides: Partial<SshConfig>, idleMs?: number): FleetTransport {
  const t = createFleetTransport({ ...ssh, ...overrides }, idleMs === undefined ? {} : { idleMs });
  others.push(t);
  return t;
}

beforeAll(async () => {
  fx = await startSandbox(4, (s) => {
    s.connectTimeoutSeconds = 2;
  });
  ssh = fx.config.ssh;
  hosts = fx.config.hosts;
  transport = createFleetTransport(ssh);
});

afterAll(async () => {
  await transport?.close();
  for (const t of others) await t.close();
  await fx?.stop();
});

describe("connecting to real sshd", () => {
  it("reports a stopped host as refused, fast", async () => {
    await stopHost(fx.sb, "beta03");
    try {
      const t0 = Date.now();
      const e = await failure(transport.exec(host("beta03"), "true"));
      expect(e.kind).toBe("refused");
      expect(e.message).toMatch(/connection refused at 127\.0\.\d+\.3:22/);
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await startHost(fx.sb, "beta03");
    }
  });

  it("gives up on a host that never speaks at the connect timeout, not later", async () => {
    await hangHost(fx.sb, "beta03");
    try {
      const t0 = Date.now();
      const e = await failure(transport.exec(host("beta03"), "true"));
      const elapsed = Date.now() - t0;
      expect(e.kind).toBe("connect-timeout");
      expect(e.message).toMatch(/no SSH handshake within 2s/);
      expect(elapsed).toBeGreaterThanOrEqual(1900);
      expect(elapsed).toBeLessThan(3000);
    } finally {
      await startHost(fx.sb, "beta03");
    }
  });

  it("refuses a changed host key, and accepts it once known_hosts is updated", async () => {
    const t = transportWith({ knownHostsPath: knownHostsVariant(fx, "kh-changed", (l) => l) });
    await changeHostKey(fx.sb, "beta02");
    const e = await failure(t.exec(host("beta02"), "true"));
    expect(e.kind).toBe("host-key-changed");
    expect(e.message).toMatch(/host key CHANGED/);
    expect(e.message).toMatch(/SHA256:/);
    // Never accepted silently: the next attempt is refused the same way.
    expect((await failure(t.exec(host("beta02"), "true"))).kind).toBe("host-key-changed");
    // Listed under its name only: a key on file for any of the host's names is accepted.
    knownHostsVariant(fx, "kh-changed", (lines) => lines.map((l) => (l.includes(",beta02 ") ? `beta02 ${fx.hostKeyLine("beta02")}` : l)));
    expect((await t.exec(host("beta02"), "echo trusted")).stdout).toBe("trusted\n");
  });

  it("refuses an unknown host key and says how to add it", async () => {
    const t = transportWith({ knownHostsPath: knownHostsVariant(fx, "kh-unknown", (lines) => lines.filter((l) => !l.includes(",beta01 "))) });
    const e = await failure(t.exec(host("beta01"), "true"));
    expect(e.kind).toBe("host-key-unknown");
    expect(e.message).toMatch(/host key is unknown/);
    expect(e.message).toMatch(/ssh-keyscan -p 22 -t ssh-ed25519 127\.0\.\d+\.1 /);
    expect((await t.exec(host("beta04"), "echo ok")).stdout).toBe("ok\n");
  });

  it("refuses a revoked host key", async () => {
    const t = transportWith({ knownHostsPath: knownHostsVariant(fx, "kh-revoked", (lines) => [...lines, `@revoked * ${fx.hostKeyLine("beta04")}`]) });
    expect((await failure(t.exec(host("beta04"), "true"))).kind).toBe("host-key-revoked");
  });

  it("reports a key the host does not accept as an auth failure", async () => {
    const key = path.join(fx.dir, "stranger");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const e = await failure(transportWith({ privateKeyPath: key }).exec(host("beta01"), "true"));
    expect(e.kind).toBe("auth");
    expect(e.message).toMatch(/authentication as root/);
    expect(e.message).not.toMatch(/PRIVATE KEY/);
  });

  it("reports a name that does not resolve as dns", async () => {
    const e = await failure(transport.exec({ name: "ghost", address: "ghost.invalid" }, "true"));
    expect(e.kind).toBe("dns");
    expect(e.host).toBe("ghost");
  });

  it("reaches hosts through a jump host, verifying both keys", async () => {
    const bastion = await startBastion(fx);
    try {
      const knownHostsPath = knownHostsVariant(fx, "kh-jump", () => [...currentKeys(), bastion.knownHostsLine]);
      const t = transportWith({ jumpHost: { host: bastion.address, port: 22 }, knownHostsPath });
      const rs = await Promise.all(hosts.map((h) => t.exec(h, "hostname >/dev/null; echo $SSH_CONNECTION")));
      for (const [i, r] of rs.entries()) expect(r.stdout.split(" ")[2]).toBe(hosts[i]!.address);

      // Each target's own key is still checked behind the bastion.
      const staleTarget = transportWith({
        jumpHost: { host: bastion.address, port: 22 },
        knownHostsPath: knownHostsVariant(fx, "kh-jump-3", () => [
          ...currentKeys().map((l) => (l.includes(",beta02 ") ? `beta02 ${bastion.knownHostsLine.split(" ").slice(1).join(" ")}` : l)),
          bastion.knownHostsLine,
        ]),
      });
      expect((await failure(staleTarget.exec(host("beta02"), "true"))).kind).toBe("host-key-changed");

      const unknownBastion = transportWith({ jumpHost: { host: bastion.address, port: 22 }, knownHostsPath: knownHostsVariant(fx, "kh-jump-2", currentKeys) });
      const e = await failure(unknownBastion.exec(host("beta01"), "true"));
      expect(e.kind).toBe("host-key-unknown");
      expect(e.message).toMatch(/via jump host/);

      await stopHost(fx.sb, "beta03");
      try {
        expect((await failure(t.exec(host("beta03"), "true"))).kind).toBe("refused");
      } finally {
        await startHost(fx.sb, "beta03");
      }

      // With the bastion's sshd gone, no host can be reached: the connections went through it.
      await bastion.stop();
      const gone = await failure(transportWith({ jumpHost: { host: bastion.address, port: 22 }, knownHostsPath }).exec(host("beta01"), "true"));
      expect(gone.kind).toBe("refused");
      expect(gone.message).toMatch(/^beta01: via jump host 127\.0\.\d+\.250: connection refused/);
    } finally {
      await bastion.stop();
    }
  });


  it("names the config keys, never local paths, in host key and private key messages", async () => {
    // Every viewer sees these messages (host observations): no file on this machine may show.
    const absolutePath = /(?:^|[\s(='"])\/[^\s]/;
    const beta04Key = fx.hostKeyLine("beta04");
    const knownHostsPath = knownHostsVariant(fx, "kh-hygiene", () => [
      ...currentKeys()
        .filter((l) => !l.includes(",beta01 "))
        .map((l) => (l.includes(",beta03 ") ? l.replace(/ \S+ \S+$/, ` ${beta04Key}`) : l)),
      `@revoked * ${beta04Key}`,
    ]);
    const current = knownHostsVariant(fx, "kh-hygiene-current", currentKeys);
    const withKey = (privateKeyPath: string) => transportWith({ privateKeyPath, knownHostsPath: current }).exec(host("beta02"), "true");
    const garbageKey = path.join(fx.dir, "garbage-key");
    writeFileSync(garbageKey, "not a key\n");
    const stranger = path.join(fx.dir, "stranger-hygiene");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    const cases: Array<{ kind: string; key: "ssh.knownHostsPath" | "ssh.privateKeyPath"; paths: string[]; run: () => Promise<unknown> }> = [
      { kind: "host-key-unknown", key: "ssh.knownHostsPath", paths: [knownHostsPath], run: () => transportWith({ knownHostsPath }).exec(host("beta01"), "true") },
      { kind: "host-key-changed", key: "ssh.knownHostsPath", paths: [knownHostsPath], run: () => transportWith({ knownHostsPath }).exec(host("beta03"), "true") },
      { kind: "host-key-revoked", key: "ssh.knownHostsPath", paths: [knownHostsPath], run: () => transportWith({ knownHostsPath }).exec(host("beta04"), "true") },
      ...["no-such-known_hosts", "."].map((name) => {
        const file = path.join(fx.dir, name);
        return { kind: "host-key-unknown", key: "ssh.knownHostsPath" as const, paths: [file], run: () => transportWith({ knownHostsPath: file }).exec(host("beta02"), "true") };
      }),
      ...["no-such-key", "."].map((name) => {
        const file = path.join(fx.dir, name);
        return { kind: "auth", key: "ssh.privateKeyPath" as const, paths: [file], run: () => withKey(file) };
      }),
      { kind: "auth", key: "ssh.privateKeyPath", paths: [garbageKey], run: () => withKey(garbageKey) },
      { kind: "auth", key: "ssh.privateKeyPath", paths: [stranger], run: () => withKey(stranger) },
    ];
    for (const c of cases) {
      const e = await failure(c.run());
      expect(e.kind, e.message).toBe(c.kind);
      expect(e.message).toContain(c.key);
      for (const p of [...c.paths, fx.dir, ssh.privateKeyPath, ssh.knownHostsPath]) expect(e.message).not.toContain(p);
      expect(e.message).not.toMatch(absolutePath);
    }
  });
});
