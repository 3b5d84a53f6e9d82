// The SSH transport against real sshd hosts of the sandbox cluster: commands, output, timeouts,
// cancellation, kept connections, one holder per host and sessions that hold a host.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hangHost, installedVersion, setInstalled, startHost, stopHost } from "../../../e2e/sandbox";
import type { HostConfig, SshConfig } from "../../config";
import { renderCommand } from "../../shell";
import { startSandbox, type FleetSandbox } from "../testing";
import { closeFleetTransport, CONNECT_ERROR_KINDS, createFleetTransport, getFleetTransport, hostHolder, type FleetTransport, type HostSession } from ".";
import { failure } from "./testing";

let fx: FleetSandbox;
let ssh: SshConfig;
let transport: FleetTransport;
let hosts: HostConfig[];
const others: FleetTransport[] = [];

function host(name: string): HostConfig {
  return hosts.find((h) => h.name === name)!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Milliseconds since the epoch from `date +%s%N` output (the hosts share this machine's clock). */
function stamps(stdout: string): number[] {
  return stdout.trim().split("\n").map((n) => Number(BigInt(n) / 1_000_000n));
}

const NOW = "date +%s%N";

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

describe("host sessions on real sshd", () => {
  it("holds a host across commands: an exec that comes in between waits until the session ends", async () => {
    let probe: Promise<number> | null = null;
    const [a, b] = await transport.withHost(
      host("beta01"),
      async (session) => {
        const first = await session.exec(`${NOW}; sleep 0.2`);
        expect(hostHolder("beta01")).toBe("deployment 12");
        probe = transport.exec(host("beta01"), NOW).then((r) => stamps(r.stdout)[0]!);
        await sleep(300);
        const second = await session.exec(`sleep 0.2; ${NOW}`);
        return [stamps(first.stdout)[0]!, stamps(second.stdout)[0]!];
      },
      { holder: "deployment 12" },
    );
    const probedAt = await probe!;
    expect(b - a).toBeGreaterThanOrEqual(600);
    expect(probedAt).toBeGreaterThanOrEqual(b);
    expect(hostHolder("beta01")).toBeNull();
  });

  it("runs a session's commands one at a time even when they are not awaited in turn", async () => {
    const rs = await transport.withHost(host("beta02"), (session) =>
      Promise.all([session.exec(`${NOW}; sleep 0.3; ${NOW}`), session.exec(`${NOW}; sleep 0.3; ${NOW}`)]),
    );
    const [[a0, a1], [b0, b1]] = rs.map((r) => stamps(r.stdout)) as [[number, number], [number, number]];
    expect(a1 <= b0 || b1 <= a0).toBe(true);
  });

  it("fails at once with kind busy, naming the holder, for an exec that will not wait", async () => {
    const other = transportWith({});
    await transport.withHost(
      host("beta01"),
      async (session) => {
        await session.exec("true");
        for (const t of [transport, other]) {
          const t0 = Date.now();
          const e = await failure(t.exec(host("beta01"), "true", { ifBusy: "fail" }));
          expect(Date.now() - t0).toBeLessThan(100);
          expect(e).toMatchObject({ kind: "busy", host: "beta01", holder: "deployment 12", command: "true" });
          expect(e.message).toMatch(/held by deployment 12/);
          expect(CONNECT_ERROR_KINDS.has(e.kind)).toBe(false);
        }
        expect((await failure(other.withHost(host("beta01"), async () => "never", { ifBusy: "fail" }))).holder).toBe("deployment 12");
        // Other hosts are not held.
        expect((await other.exec(host("beta02"), "echo free", { ifBusy: "fail" })).stdout).toBe("free\n");
      },
      { holder: "deployment 12" },
    );
    expect((await transport.exec(host("beta01"), "echo mine", { ifBusy: "fail" })).stdout).toBe("mine\n");
  });

  it("gives up waiting for a held host after waitMs with kind busy", async () => {
    let opened = false;
    await transport.withHost(
      host("beta03"),
      async (session) => {
        const t0 = Date.now();
        const e = await failure(transport.exec(host("beta03"), "true", { waitMs: 300 }));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
        expect(e).toMatchObject({ kind: "busy", holder: "deployment 9" });
        expect(e.message).toMatch(/^beta03: the host is busy, held by deployment 9; gave up after waiting 0\.\ds$/);
        const s = await failure(transport.withHost(host("beta03"), async () => void (opened = true), { waitMs: 100, holder: "deployment 10" }));
        expect(s).toMatchObject({ kind: "busy", holder: "deployment 9" });
        // The session itself goes on.
        expect((await session.exec("echo still")).stdout).toBe("still\n");
      },
      { holder: "deployment 9" },
    );
    expect(opened).toBe(false);
  });

  it("stops waiting for a held host when aborted", async () => {
    let opened = false;
    await transport.withHost(
      host("beta04"),
      async () => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 200);
        const t0 = Date.now();
        const [e, s] = await Promise.all([
          failure(transport.exec(host("beta04"), "true", { signal: ac.signal })),
          failure(transport.withHost(host("beta04"), async () => void (opened = true), { signal: ac.signal })),
        ]);
        expect(Date.now() - t0).toBeLessThan(600);
        expect(e.kind).toBe("cancelled");
        expect(e.message).toMatch(/cancelled while waiting for the host/);
        expect(s.kind).toBe("cancelled");
      },
      { holder: "deployment 11" },
    );
    expect(opened).toBe(false);
    expect(hostHolder("beta04")).toBeNull();
  });

  it("cancels the session's running command through its signal", async () => {
    const ac = new AbortController();
    const e = await failure(
      transport.withHost(
        host("beta04"),
        async (session) => {
          setTimeout(() => ac.abort(), 200);
          await session.exec("sleep 8");
        },
        { signal: ac.signal },
      ),
    );
    expect(e.kind).toBe("cancelled");
    expect(hostHolder("beta04")).toBeNull();
  });

  it("lets the host go when the callback throws, and refuses commands after the session", async () => {
    let kept: HostSession | null = null;
    await expect(
      transport.withHost(host("beta02"), async (session) => {
        kept = session;
        await session.exec("true");
        throw new Error("plan failed");
      }),
    ).rejects.toThrow("plan failed");
    expect(hostHolder("beta02")).toBeNull();
    expect((await failure(kept!.exec("true"))).message).toMatch(/session had already ended/);
  });

  it("runs a session's commands through the transport's concurrency limit", async () => {
    const one = transportWith({ concurrency: 1 });
    const [inSession, elsewhere] = await Promise.all([
      one.withHost(host("beta01"), (session) => session.exec(`${NOW}; sleep 0.3; ${NOW}`)),
      sleep(50).then(() => one.exec(host("beta02"), `${NOW}; sleep 0.3; ${NOW}`)),
    ]);
    const [a0, a1] = stamps(inSession.stdout) as [number, number];
    const [b0, b1] = stamps(elsewhere.stdout) as [number, number];
    expect(a1 <= b0 || b1 <= a0).toBe(true);
  });

  it("lets commands and sessions on a replaced transport finish; only new calls on it fail", async () => {
    const old = getFleetTransport(ssh);
    expect(getFleetTransport(ssh)).toBe(old);
    let resume!: () => void;
    const gate = new Promise<void>((r) => (resume = r));
    let started!: () => void;
    const inSession = new Promise<void>((r) => (started = r));
    const plain = old.exec(host("beta02"), "sleep 0.5; echo plain");
    const session = old.withHost(
      host("beta03"),
      async (s) => {
        const first = await s.exec("echo one");
        started();
        await gate;
        const second = await s.exec(`sleep 0.2; echo two; ${NOW}`);
        return [first.stdout, second.stdout];
      },
      { holder: "deployment 7" },
    );
    await inSession;

    const next = getFleetTransport({ ...ssh, commandTimeoutSeconds: ssh.commandTimeoutSeconds + 1 });
    expect(next).not.toBe(old);
    expect((await failure(old.exec(host("beta01"), "true"))).message).toMatch(/transport was closed/);
    expect((await failure(old.withHost(host("beta01"), async () => "never"))).kind).toBe("cancelled");
    // The hold is process-wide: the new transport waits for the old one's session.
    expect(hostHolder("beta03")).toBe("deployment 7");
    const after = next.exec(host("beta03"), NOW);
    await sleep(200);
    resume();

    const [one, two] = await session;
    expect(one).toBe("one\n");
    expect(two!.startsWith("two\n")).toBe(true);
    expect((await plain).stdout).toBe("plain\n");
    expect(stamps((await after).stdout)[0]).toBeGreaterThanOrEqual(stamps(two!.split("\n")[1]!)[0]!);
    await closeFleetTransport();
  });
});
