import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import { auditFacets } from "../audit/queries";
import { getDb } from "../db";
import { ADDRESS_LIMIT, ANONYMOUS, auditCountedFailure, clearFailures, describeAttemptedName, isThrottled, NAME_LIMIT, recordFailure, reserveAttempt, WINDOW_MS } from "./throttle";

const t0 = new Date("2026-12-01T10:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);
const fail = (name: string, address: string | null, when: Date, reason: "password" | "throttled" = "password") =>
  recordFailure({ name, address, userAgent: "test-agent", reason }, when);

beforeAll(() => {
  useTestDatabase();
});

beforeEach(async () => {
  await getDb().signInFailure.deleteMany();
});

describe("sign-in throttle", () => {
  it("pauses a name from one address after five failures for fifteen minutes; a success clears it", async () => {
    for (let i = 0; i < NAME_LIMIT - 1; i++) await fail("carol", "198.51.100.7", at(i));
    expect(await isThrottled("carol", "198.51.100.7", at(10))).toBe(false);
    await fail("carol", "198.51.100.7", at(11));
    expect(await isThrottled("carol", "198.51.100.7", at(12))).toBe(true);
    expect(await isThrottled("dave", "198.51.100.7", at(12))).toBe(false);
    expect(await isThrottled("carol", "198.51.100.7", at(WINDOW_MS + 1))).toBe(false);
    for (let i = 0; i < NAME_LIMIT; i++) await fail("carol", "198.51.100.7", at(20 * 60_000));
    expect(await isThrottled("carol", "198.51.100.7", at(20 * 60_000))).toBe(true);
    await clearFailures("carol", "198.51.100.7");
    expect(await isThrottled("carol", "198.51.100.7", at(20 * 60_000))).toBe(false);
  });

  it("lets no stranger lock anyone out: failures from one address never pause the name elsewhere", async () => {
    for (let i = 0; i < 50; i++) await fail("alice", "203.0.113.66", at(i), i < NAME_LIMIT ? "password" : "throttled");
    expect(await isThrottled("alice", "203.0.113.66", at(100))).toBe(true);
    expect(await isThrottled("alice", "192.0.2.10", at(100))).toBe(false);
    expect(await isThrottled("alice", "2001:db8::1", at(100))).toBe(false);
  });

  it("pauses an address that tries many names, and only that address", async () => {
    for (let i = 0; i < ADDRESS_LIMIT; i++) await fail(`user${i}`, "203.0.113.9", at(i));
    expect(await isThrottled("someone-new", "203.0.113.9", at(100))).toBe(true);
    expect(await isThrottled("someone-new", "203.0.113.10", at(100))).toBe(false);
    expect(await isThrottled("someone-new", "203.0.113.9", at(WINDOW_MS + 100))).toBe(false);
  });

  it("keeps its counts in the database, where every replica sees them", async () => {
    await fail("erin", "192.0.2.1", at(0));
    await fail("erin", "192.0.2.1", at(1));
    expect(await getDb().signInFailure.findMany({ select: { name: true, address: true, count: true } })).toEqual([{ name: "erin", address: "192.0.2.1", count: 2 }]);
  });
});

describe("failed sign-in audit", () => {
  it("records the anonymous actor with the typed name clipped and escaped in the payload, a bounded number of times", async () => {
    const db = getDb();
    const before = await db.auditEvent.count();
    const typed = "mallory\n=cmd|\u202e" + "x".repeat(80);
    for (let i = 0; i < 30; i++) await fail(typed, "198.51.100.99", at(i), i < NAME_LIMIT ? "password" : "throttled");
    const events = await db.auditEvent.findMany({ where: { id: { gt: 0 } }, orderBy: { id: "asc" }, skip: before });
    // The first failure, the one that pauses the name here and the one that pauses the address;
    // the other 27 are only counted.
    expect(events).toHaveLength(3);
    for (const e of events) {
      expect(e).toMatchObject({ actorName: ANONYMOUS, actorId: null, action: "user.signin-failed", target: null, ip: "198.51.100.99", userAgent: "test-agent" });
      expect(e.payload).not.toContain("\n");
      expect(JSON.parse(e.payload).attemptedName).toBe(describeAttemptedName(typed));
    }
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ reason: "password", failures: 1 });
    expect(JSON.parse(events[1]!.payload)).toMatchObject({ reason: "password", failures: NAME_LIMIT, paused: true });
    expect(JSON.parse(events[2]!.payload)).toMatchObject({ reason: "throttled", failures: ADDRESS_LIMIT, paused: true });
    expect((await db.signInFailure.findFirstOrThrow({ where: { address: "198.51.100.99" } })).count).toBe(30);
    expect((await auditFacets()).actors).not.toContain(typed);
  });

  it("keeps typed names out of the actor filter, also from events written before they were anonymous", async () => {
    const db = getDb();
    await db.auditEvent.create({ data: { actorName: "guessed-name", source: "ui", action: "user.signin-failed", payload: '{"reason":"password"}' } });
    await db.auditEvent.create({ data: { actorName: "real-user", actorId: 1, source: "ui", action: "user.signin", target: "real-user" } });
    await fail("another-guess", "192.0.2.77", at(0));
    const { actors } = await auditFacets();
    expect(actors).toContain("real-user");
    expect(actors).toContain(ANONYMOUS);
    expect(actors).not.toContain("guessed-name");
    expect(actors).not.toContain("another-guess");
  });

  it("writes at most ADDRESS_LIMIT events per address and window however many names it tries", async () => {
    const db = getDb();
    const before = await db.auditEvent.count();
    for (let i = 0; i < 60; i++) await fail(`spray${i}`, "198.51.100.200", at(i));
    expect((await db.auditEvent.count()) - before).toBe(ADDRESS_LIMIT);
  });

  it("escapes what is not printable ASCII and clips long names", () => {
    expect(describeAttemptedName("alice")).toBe("alice");
    expect(describeAttemptedName("a b\n\\")).toBe("a\\u{20}b\\u{a}\\u{5c}");
    expect(describeAttemptedName("\u202eevil")).toBe("\\u{202e}evil");
    expect(describeAttemptedName("y".repeat(100))).toBe("y".repeat(40) + "…");
  });
});

describe("parallel password guesses", () => {
  it("at most NAME_LIMIT of 30 simultaneous attempts for one name and address get their password checked", async () => {
    const name = "parallel-target";
    const address = "198.51.100.200";
    const results = await Promise.all(Array.from({ length: 30 }, () => reserveAttempt(name, address)));
    expect(results.filter((r) => !r.paused)).toHaveLength(NAME_LIMIT);
    expect(new Set(results.map((r) => r.pair)).size).toBe(30);
    // Another address is not paused by them.
    expect((await reserveAttempt(name, "198.51.100.201")).paused).toBe(false);
    await clearFailures(name, address);
    expect((await reserveAttempt(name, address)).paused).toBe(false);
  });

  it("audits counted failures within the same bounds as recordFailure", async () => {
    const name = "counted";
    const address = "198.51.100.210";
    let events = 0;
    for (let i = 0; i < 8; i++) {
      const counts = await reserveAttempt(name, address);
      if (await auditCountedFailure({ name, address, userAgent: null, reason: counts.paused ? "throttled" : "password" }, counts)) events++;
    }
    // The first failure and the one that pauses the pair.
    expect(events).toBe(2);
  });
});
