import { describe, expect, it, vi } from "vitest";
import { SYSTEM_ACTOR, type Actor } from "./audit/log";
import { backgroundRuns, sameActor, startTimer } from "./background";

const alice: Actor = { id: 1, name: "alice", source: "ui", role: "deployer" };
const bob: Actor = { id: 2, name: "bob", source: "api", role: "deployer" };

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("backgroundRuns", () => {
  it("runs one piece of work per key; later calls join it, and people joining someone else's are recorded", async () => {
    const recorded: { joiners: string[]; result: number }[] = [];
    const runs = backgroundRuns<number, { step: number }>("test.join", {
      async recordJoined(joiners, result) {
        recorded.push({ joiners: joiners.map((a) => a.name), result });
      },
    });
    const gate = deferred<number>();
    let started = 0;
    const request = (actor: Actor) => ({
      key: "k",
      actor,
      progress: () => ({ step: 0 }),
      work: async (run: { progress: { step: number } }) => {
        started++;
        run.progress.step = 1;
        return gate.promise;
      },
    });
    const first = runs.joinOrStart(request(alice));
    const own = runs.joinOrStart(request(alice));
    const system = runs.joinOrStart(request(SYSTEM_ACTOR));
    const other = runs.joinOrStart(request(bob));
    // Another key is another run.
    const elsewhere = runs.joinOrStart({ ...request(bob), key: "other", work: async () => 7 });
    expect(own).toBe(first);
    expect(system).toBe(first);
    expect(other).toBe(first);
    const run = runs.running("k")!;
    expect(run).toMatchObject({ kind: "test.join", key: "k", actor: alice, running: true, finishedAt: null });
    expect(run.joiners.map((a) => a.name)).toEqual(["bob"]);
    await sleep(0);
    expect(run.progress.step).toBe(1);

    gate.resolve(42);
    expect(await first).toBe(42);
    expect(await elsewhere).toBe(7);
    expect(started).toBe(1);
    expect(recorded).toEqual([{ joiners: ["bob"], result: 42 }]);
    expect(runs.running("k")).toBeUndefined();
    expect(runs.latest("k")).toBe(run);
    expect(run).toMatchObject({ running: false, finishedAt: expect.any(Date) });

    // Once a run has ended, the next call starts a new one.
    const next = runs.joinOrStart({ ...request(bob), work: async () => 43 });
    expect(runs.latest("k")).not.toBe(run);
    expect(await next).toBe(43);
    expect(recorded).toHaveLength(1);
  });

  it("lets a call refuse to settle for the running work: it waits for it, then starts its own", async () => {
    const runs = backgroundRuns<string, { forced: boolean }>("test.accepts");
    const gate = deferred<string>();
    const plain = runs.joinOrStart({ key: "k", actor: alice, progress: () => ({ forced: false }), work: () => gate.promise });
    const forced = runs.joinOrStart({
      key: "k",
      actor: alice,
      progress: () => ({ forced: true }),
      work: async () => "forced",
      accepts: (r) => r.progress.forced,
    });
    gate.resolve("plain");
    expect(await plain).toBe("plain");
    expect(await forced).toBe("forced");
    expect(runs.latest("k")!.progress.forced).toBe(true);
  });

  it("passes a failure of the work to every caller and records no joiners", async () => {
    const recordJoined = vi.fn(async () => {});
    const runs = backgroundRuns<number, null>("test.fail", { recordJoined });
    const req = (actor: Actor) => ({ key: "k", actor, progress: () => null, work: async () => Promise.reject(new Error("db down")) });
    const a = runs.joinOrStart(req(alice));
    const b = runs.joinOrStart(req(bob));
    await expect(a).rejects.toThrow("db down");
    await expect(b).rejects.toThrow("db down");
    expect(recordJoined).not.toHaveBeenCalled();
    expect(runs.running("k")).toBeUndefined();
  });

  it("keeps the result when recording the joiners fails", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const runs = backgroundRuns<number, null>("test.record-fails", { recordJoined: async () => Promise.reject(new Error("no db")) });
      const a = runs.joinOrStart({ key: "k", actor: alice, progress: () => null, work: async () => 1 });
      const b = runs.joinOrStart({ key: "k", actor: bob, progress: () => null, work: async () => 2 });
      expect(await a).toBe(1);
      expect(await b).toBe(1);
      expect(error).toHaveBeenCalledWith(expect.stringContaining("test.record-fails"), expect.any(Error));
    } finally {
      error.mockRestore();
    }
  });

  it("shares runs across module instances through globalThis", async () => {
    const gate = deferred<number>();
    const one = backgroundRuns<number, null>("test.shared");
    const two = backgroundRuns<number, null>("test.shared");
    const a = one.joinOrStart({ key: "k", actor: alice, progress: () => null, work: () => gate.promise });
    expect(two.joinOrStart({ key: "k", actor: alice, progress: () => null, work: async () => 0 })).toBe(a);
    gate.resolve(5);
    expect(await a).toBe(5);
  });
});

describe("sameActor", () => {
  it("compares who and from where, not the role or the address", () => {
    expect(sameActor(alice, { ...alice, role: "admin", ip: "10.0.0.1" })).toBe(true);
    expect(sameActor(alice, { ...alice, source: "api" })).toBe(false);
    expect(sameActor(alice, bob)).toBe(false);
  });
});

describe("startTimer", () => {
  it("ticks now and then after each tick ends, reading the interval anew, never overlapping", async () => {
    let interval = 20;
    let active = 0;
    let overlapped = false;
    const ticks: number[] = [];
    const timer = startTimer("test.timer", {
      config: () => ({ interval }),
      intervalMs: (c) => c.interval,
      async run() {
        active++;
        if (active > 1) overlapped = true;
        ticks.push(Date.now());
        await sleep(30);
        active--;
      },
    });
    await sleep(150);
    interval = 10_000;
    await sleep(100);
    const settled = ticks.length;
    await sleep(100);
    timer.stop();
    expect(overlapped).toBe(false);
    expect(settled).toBeGreaterThanOrEqual(2);
    // Each tick starts at least its run time plus the interval after the previous one.
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBeGreaterThanOrEqual(40);
    // The long interval read at the last tick holds.
    expect(ticks.length).toBe(settled);
  });

  it("waits while there is no config, logs failures, and is replaced by a timer of the same name", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      let reads = 0;
      const runs: string[] = [];
      const first = startTimer("test.replace", {
        config: () => {
          reads++;
          return null;
        },
        intervalMs: () => 10,
        run: async () => void runs.push("first"),
        idleMs: 10,
      });
      await sleep(60);
      expect(reads).toBeGreaterThanOrEqual(2);
      expect(runs).toEqual([]);

      const second = startTimer("test.replace", {
        config: () => ({}),
        intervalMs: () => 10,
        run: async () => {
          runs.push("second");
          throw new Error("tick failed");
        },
      });
      const readsWhenReplaced = reads;
      await sleep(60);
      second.stop();
      first.stop();
      expect(reads).toBe(readsWhenReplaced);
      expect(runs.length).toBeGreaterThanOrEqual(2);
      expect(new Set(runs)).toEqual(new Set(["second"]));
      expect(error).toHaveBeenCalledWith("test.replace: scheduled run failed", expect.any(Error));
    } finally {
      error.mockRestore();
    }
  });

  it("does not keep the process alive", () => {
    const set = vi.spyOn(globalThis, "setTimeout");
    const timer = startTimer("test.unref", { config: () => ({}), intervalMs: () => 1000, run: async () => {}, initialDelayMs: 1000 });
    try {
      const handle = set.mock.results.at(-1)!.value as NodeJS.Timeout;
      expect(handle.hasRef()).toBe(false);
    } finally {
      timer.stop();
      set.mockRestore();
    }
  });
});
