// At most ssh.maxHandshakes SSH handshakes at once: counted by a TCP server that accepts and never
// answers (what it sees is what we opened), and against real sshd hosts of the sandbox cluster.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostConfig, SshConfig } from "../../config";
import { startSandbox, type FleetSandbox } from "../testing";
import { createFleetTransport, type FleetTransport } from ".";
import { acquireHandshake, handshakeCounts } from "./handshakes";
import { failure } from "./testing";

let fx: FleetSandbox;
let ssh: SshConfig;
let hosts: HostConfig[];
const transports: FleetTransport[] = [];

/** A TCP server that accepts connections and never says a word, recording when each opened and closed. */
async function silentServer() {
  const spans: { open: number; close: number | null }[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const span = { open: performance.now(), close: null as number | null };
    spans.push(span);
    sockets.add(s);
    s.on("error", () => {});
    // Read (and drop) what the client sends, or the end of the connection is never seen.
    s.resume();
    s.on("close", () => {
      span.close = performance.now();
      sockets.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: (name: string): HostConfig => ({ name, address: "127.0.0.1", port }),
    accepted: () => spans.length,
    /**
     * The most connections open at once. A connection counts until a little before it closed: the
     * server may accept the next connection before it reads the end of the one our side just closed.
     */
    mostOpen(slackMs = 100): number {
      let most = 0;
      for (const at of spans) {
        const open = spans.filter((s) => s.open <= at.open && (s.close === null || s.close - slackMs > at.open)).length;
        most = Math.max(most, open);
      }
      return most;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function transportWith(overrides: Partial<SshConfig>): FleetTransport {
  const t = createFleetTransport({ ...ssh, ...overrides });
  transports.push(t);
  return t;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  fx = await startSandbox(4);
  ssh = fx.config.ssh;
  hosts = fx.config.hosts;
});

afterAll(async () => {
  for (const t of transports) await t.close();
  await fx?.stop();
});

describe("acquireHandshake", () => {
  const wait = (max: number, extra: { deadline?: number; signal?: AbortSignal } = {}) =>
    acquireHandshake({ max, deadline: extra.deadline ?? Date.now() + 10_000, signal: extra.signal, timeout: () => new Error("timeout"), cancelled: () => new Error("cancelled") });

  it("lets `max` through, queues the rest first come first served, and a waiter can time out or be cancelled", async () => {
    const order: string[] = [];
    const first = await wait(2);
    const second = await wait(2);
    expect(handshakeCounts()).toMatchObject({ active: 2, queued: 0 });
    const third = wait(2).then((r) => (order.push("third"), r));
    const late = wait(2, { deadline: Date.now() + 50 }).catch((e: Error) => (order.push(e.message), null));
    const abort = new AbortController();
    const cancelled = wait(2, { signal: abort.signal }).catch((e: Error) => (order.push(e.message), null));
    const fourth = wait(2).then((r) => (order.push("fourth"), r));
    expect(handshakeCounts()).toMatchObject({ active: 2, queued: 4 });
    abort.abort();
    await sleep(100);
    expect(order).toEqual(["cancelled", "timeout"]);
    first();
    first(); // a second call changes nothing
    (await third)();
    second();
    (await fourth)();
    await Promise.all([late, cancelled]);
    expect(order).toEqual(["cancelled", "timeout", "third", "fourth"]);
    expect(handshakeCounts()).toMatchObject({ active: 0, queued: 0 });
  });
});

describe("handshakes at once", () => {
  it("never opens more than ssh.maxHandshakes connections at once, and times each handshake from its own start", async () => {
    const silent = await silentServer();
    try {
      const t = transportWith({ maxHandshakes: 2, concurrency: 50, connectTimeoutSeconds: 1 });
      const t0 = performance.now();
      const errors = await Promise.all(Array.from({ length: 6 }, (_, i) => failure(t.exec(silent.host(`silent${i + 1}`), "true"))));
      const elapsed = performance.now() - t0;
      expect(silent.accepted()).toBe(6);
      expect(silent.mostOpen()).toBe(2);
      for (const e of errors) {
        expect(e.kind).toBe("connect-timeout");
        expect(e.message).toMatch(/no SSH handshake within 1s at 127\.0\.0\.1:/);
      }
      // Three turns of two: the last ones waited two turns before their own second began.
      expect(elapsed).toBeGreaterThanOrEqual(2900);
      expect(elapsed).toBeLessThan(5000);
      expect(Math.max(...errors.map((e) => e.durationMs))).toBeGreaterThanOrEqual(2900);
    } finally {
      await silent.close();
    }
  });

  it("connects hosts that waited for their turn longer than the connect timeout", async () => {
    const silent = await silentServer();
    try {
      const t = transportWith({ maxHandshakes: 1, connectTimeoutSeconds: 1 });
      handshakeCounts({ resetPeak: true });
      const t0 = performance.now();
      const stuck = failure(t.exec(silent.host("silent"), "true"));
      await sleep(50);
      expect(handshakeCounts().active).toBe(1);
      const results = await Promise.all(hosts.map((h) => t.exec(h, "hostname", { fresh: true })));
      expect((await stuck).kind).toBe("connect-timeout");
      expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
      expect(results.map((r) => r.exitCode)).toEqual(hosts.map(() => 0));
      expect(handshakeCounts().peak).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it("keeps every real host's handshakes within the cap while all of them succeed", async () => {
    const t = transportWith({ maxHandshakes: 2, concurrency: 50 });
    handshakeCounts({ resetPeak: true });
    const results = await Promise.all([0, 1, 2].flatMap(() => hosts.map((h) => t.exec(h, "echo ok", { fresh: true }))));
    expect(results.map((r) => r.stdout)).toEqual(results.map(() => "ok\n"));
    expect(handshakeCounts().peak).toBe(2);
    expect(handshakeCounts()).toMatchObject({ active: 0, queued: 0 });
  });

  it("gives up waiting for a turn at the command's timeout, and leaves the queue when cancelled", async () => {
    const silent = await silentServer();
    try {
      const t = transportWith({ maxHandshakes: 1, connectTimeoutSeconds: 2 });
      const stuck = failure(t.exec(silent.host("silent"), "true"));
      await sleep(50);
      const t0 = performance.now();
      const late = await failure(t.exec(hosts[0]!, "true", { timeoutMs: 300 }));
      expect(late.kind).toBe("connect-timeout");
      expect(late.message).toMatch(/^beta01: no turn to connect within 0\.3s: at most 1 SSH handshake run at once \(ssh\.maxHandshakes\)/);
      expect(performance.now() - t0).toBeLessThan(1000);

      const abort = new AbortController();
      const cancelled = failure(t.exec(silent.host("silent-cancelled"), "true", { signal: abort.signal }));
      await sleep(50);
      expect(handshakeCounts().queued).toBe(1);
      abort.abort();
      expect((await cancelled).kind).toBe("cancelled");
      expect(handshakeCounts().queued).toBe(0);
      expect((await stuck).kind).toBe("connect-timeout");
      await sleep(100);
      // The cancelled one never connected.
      expect(silent.accepted()).toBe(1);
    } finally {
      await silent.close();
    }
  });
});
