import { describe, expect, it } from "vitest";
import { CONNECT_ERROR_KINDS } from "./errors";
import { acquireHost, hostHolder } from "./locks";
import { failure } from "./testing";

const WAIT = 10_000;

describe("host locks", () => {
  it("hands the host to waiters in order and records who holds it", async () => {
    const order: string[] = [];
    const first = await acquireHost("lk-order", { holder: "deployment 1", waitMs: WAIT });
    expect(hostHolder("lk-order")).toBe("deployment 1");
    const second = acquireHost("lk-order", { holder: "deployment 2", waitMs: WAIT }).then((r) => (order.push("2"), r));
    const third = acquireHost("lk-order", { holder: "probe", waitMs: WAIT }).then((r) => (order.push("3"), r));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    first();
    first();
    const release2 = await second;
    expect(hostHolder("lk-order")).toBe("deployment 2");
    expect(order).toEqual(["2"]);
    release2();
    (await third)();
    expect(order).toEqual(["2", "3"]);
    expect(hostHolder("lk-order")).toBeNull();
  });

  it("fails at once with kind busy naming the holder when asked not to wait", async () => {
    const release = await acquireHost("lk-fail", { holder: "deployment 12", waitMs: WAIT });
    try {
      const e = await failure(acquireHost("lk-fail", { holder: "probe", waitMs: WAIT, ifBusy: "fail", command: "dpkg-query -W scap" }));
      expect(e).toMatchObject({ kind: "busy", host: "lk-fail", holder: "deployment 12", command: "dpkg-query -W scap" });
      expect(e.message).toBe("lk-fail: the host is busy, held by deployment 12");
      expect(CONNECT_ERROR_KINDS.has(e.kind)).toBe(false);
    } finally {
      release();
    }
    // A free host is taken with "fail" as with "wait".
    (await acquireHost("lk-fail", { holder: "probe", waitMs: WAIT, ifBusy: "fail" }))();
  });

  it("gives up waiting after waitMs with kind busy, and the next waiter still gets its turn", async () => {
    const release = await acquireHost("lk-wait", { holder: "deployment 3", waitMs: WAIT });
    const t0 = Date.now();
    const late = acquireHost("lk-wait", { holder: "probe", waitMs: 150 });
    const patient = acquireHost("lk-wait", { holder: "deployment 4", waitMs: WAIT });
    const e = await failure(late);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(e).toMatchObject({ kind: "busy", holder: "deployment 3" });
    expect(e.message).toMatch(/^lk-wait: the host is busy, held by deployment 3; gave up after waiting 0\.\ds$/);
    release();
    const next = await patient;
    expect(hostHolder("lk-wait")).toBe("deployment 4");
    next();
    expect(hostHolder("lk-wait")).toBeNull();
  });

  it("stops waiting when aborted, without taking the host later", async () => {
    const release = await acquireHost("lk-abort", { holder: "deployment 5", waitMs: WAIT });
    const ac = new AbortController();
    const waiting = acquireHost("lk-abort", { holder: "probe", waitMs: WAIT, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await failure(waiting);
    expect(e.kind).toBe("cancelled");
    expect(e.message).toBe("lk-abort: cancelled while waiting for the host");
    release();
    expect(hostHolder("lk-abort")).toBeNull();
    expect((await failure(acquireHost("lk-abort", { holder: "x", waitMs: WAIT, signal: ac.signal }))).kind).toBe("cancelled");
    expect(hostHolder("lk-abort")).toBeNull();
  });

  it("keeps hosts apart", async () => {
    const a = await acquireHost("lk-a", { holder: "deployment 6", waitMs: WAIT });
    const b = await acquireHost("lk-b", { holder: "deployment 7", waitMs: 0, ifBusy: "fail" });
    expect([hostHolder("lk-a"), hostHolder("lk-b")]).toEqual(["deployment 6", "deployment 7"]);
    a();
    b();
  });
});
