// The SSH transport against real sshd hosts of the sandbox cluster: commands, output, timeouts,
// cancellation, kept connections, one session per host.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hangHost, installedVersion, setInstalled, startHost, stopHost } from "../../../e2e/sandbox";
import type { HostConfig, SshConfig } from "../../config";
import { renderCommand } from "../../shell";
import { startSandbox, type FleetSandbox } from "../testing";
import { createFleetTransport, type FleetTransport } from ".";
import { failure } from "./testing";

let fx: FleetSandbox;
let ssh: SshConfig;
let transport: FleetTransport;
let hosts: HostConfig[];
const others: FleetTransport[] = [];

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
    s.maxOutputBytes = 1024;
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

describe("fleet transport on real sshd", () => {
  it("runs the version command and reports exactly what dpkg-query says on each host", async () => {
    const [v0, , v2] = fx.sb.versions;
    await setInstalled(fx.sb, "beta02", v2!);
    await setInstalled(fx.sb, "beta03", null);
    await setInstalled(fx.sb, "beta04", v0!);
    const command = renderCommand(fx.config.commands.version, { package: fx.config.repository.package });
    const results = await Promise.all(hosts.map((h) => transport.exec(h, command)));
    for (const r of results) {
      const truth = await installedVersion(fx.sb, r.host);
      if (truth === null) {
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toMatch(/no packages found matching scap/);
      } else {
        // The default command prints dpkg's status abbreviation first: "ii " for installed.
        expect(r).toMatchObject({ exitCode: 0, signal: null, stdout: `ii  ${truth}`, truncated: false });
      }
    }
    expect(new Set(results.map((r) => r.stdout)).size).toBe(4);
  });

  it("returns non-zero exits as results, with both streams", async () => {
    const r = await transport.exec(host("beta01"), "echo out; echo err >&2; exit 3");
    expect(r).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
  });

  it("runs one session at a time per host, and hosts in parallel", async () => {
    const cmd = "date +%s%N; sleep 0.4; date +%s%N";
    const span = (s: string) => s.trim().split("\n").map((n) => Number(BigInt(n) / 1_000_000n)) as [number, number];
    const [a, b, c] = await Promise.all([transport.exec(host("beta01"), cmd), transport.exec(host("beta01"), cmd), transport.exec(host("beta02"), cmd)]);
    const [a0, a1] = span(a.stdout);
    const [b0, b1] = span(b.stdout);
    const [c0] = span(c.stdout);
    expect(a1 <= b0 || b1 <= a0).toBe(true);
    // The other host did not wait for beta01's queue.
    expect(c0).toBeLessThan(Math.max(a1, b1) - 200);
  });

  it("kills a command at its timeout with an error of its own kind", async () => {
    const t0 = Date.now();
    const e = await failure(transport.exec(host("beta01"), "echo started; sleep 8", { timeoutMs: 1000 }));
    expect(e.kind).toBe("command-timeout");
    expect(e.stdoutTail).toBe("started\n");
    expect(e.command).toBe("echo started; sleep 8");
    expect(Date.now() - t0).toBeLessThan(2500);
    // The host is usable right after.
    expect((await transport.exec(host("beta01"), "echo ok")).stdout).toBe("ok\n");
  });

  it("keeps the tail of large output, marks it truncated, and streams all of it", async () => {
    let streamed = "";
    const r = await transport.exec(host("beta02"), "seq 1 50000; echo tail >&2", { onOutput: (chunk, stream) => void (stream === "stdout" && (streamed += chunk)) });
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(1024);
    expect(r.stdout.endsWith("49999\n50000\n")).toBe(true);
    expect(r.stderr).toBe("tail\n");
    expect(streamed).toBe(execFileSync("seq", ["1", "50000"], { encoding: "utf8" }));
  });

  it("cancels a running command through an AbortSignal", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const e = await failure(transport.exec(host("beta03"), "sleep 8", { signal: ac.signal }));
    expect(e.kind).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it("cancels while connecting, without waiting for the connect timeout", async () => {
    await hangHost(fx.sb, "beta03");
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 200);
      const t0 = Date.now();
      expect((await failure(transport.exec(host("beta03"), "true", { signal: ac.signal }))).kind).toBe("cancelled");
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await startHost(fx.sb, "beta03");
    }
  });

  it("keeps a connection for the next command and reconnects when it died", async () => {
    const t = transportWith({}, 60_000);
    const first = (await t.exec(host("beta04"), "echo $PPID")).stdout;
    expect((await t.exec(host("beta04"), "echo $PPID")).stdout).toBe(first);
    expect((await t.exec(host("beta04"), "echo $PPID", { fresh: true })).stdout).not.toBe(first);
    await stopHost(fx.sb, "beta04");
    await startHost(fx.sb, "beta04");
    expect((await t.exec(host("beta04"), "echo ok")).stdout).toBe("ok\n");
  });

  it("fails calls after close", async () => {
    const t = transportWith({});
    await t.exec(host("beta01"), "true");
    await t.close();
    expect((await failure(t.exec(host("beta01"), "true"))).kind).toBe("cancelled");
  });
});
