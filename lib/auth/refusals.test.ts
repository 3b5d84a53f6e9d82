import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { useTestDatabase } from "../testing/db";
import type { Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { ANONYMOUS_ADDRESS_LIMIT, ANONYMOUS_TOTAL_LIMIT, CALLER_LIMIT, WINDOW_MS, countRefusal, describeRoute, refusalOf, type RefusedRequest } from "./refusals";

beforeAll(() => {
  useTestDatabase();
});

beforeEach(async () => {
  await getDb().refusedAttempt.deleteMany();
});

const anon = (address: string, pathname = "/api/channels/beta/promote"): RefusedRequest => ({ method: "POST", pathname, actor: null, address, userAgent: "curl/8", bearer: false });
const deployer: Actor = { id: 42, name: "dora", source: "api", role: "deployer", ip: "10.0.0.5" };
const unauthorized = new AppError("UNAUTHORIZED", "Sign in or send an API token (Authorization: Bearer ...).", { refusal: "no-credentials" });

async function events() {
  return (await getDb().auditEvent.findMany({ where: { action: "auth.refused" }, orderBy: { id: "asc" } })).map((e) => ({ ...e, payload: JSON.parse(e.payload) as Record<string, unknown> }));
}

describe("describeRoute", () => {
  it("names route patterns, never what was typed, and keeps the first value escaped as the target", () => {
    expect(describeRoute("/api/channels/beta/promote")).toEqual({ route: "/api/channels/:name/promote", target: "beta" });
    expect(describeRoute("/api/deployments/17/cancel")).toEqual({ route: "/api/deployments/:id/cancel", target: "17" });
    expect(describeRoute("/api/builds/refresh")).toEqual({ route: "/api/builds/refresh", target: "" });
    expect(describeRoute("/api/users/%E2%80%AEevil/role")).toEqual({ route: "/api/users/:name/role", target: "\\u{202e}evil" });
    expect(describeRoute(`/api/channels/${"x".repeat(500)}/plan`).target.length).toBeLessThan(70);
  });
});

describe("refusalOf", () => {
  it("takes the reason from the error, the code otherwise, and ignores failures of ours", () => {
    expect(refusalOf(new AppError("CONFLICT", "gate says no", { refusal: "gate" }))).toMatchObject({ status: 409, reason: "gate" });
    expect(refusalOf(new AppError("CONFLICT", "ended"))).toMatchObject({ status: 409, reason: "conflict" });
    expect(refusalOf(new AppError("FORBIDDEN", "no", { refusal: "token-channel", permission: "channels.promote", channel: "beta" }))).toMatchObject({ reason: "token-channel", permission: "channels.promote", channel: "beta" });
    expect(refusalOf(z.object({ a: z.string() }).safeParse({}).error)).toMatchObject({ status: 400, reason: "validation" });
    expect(refusalOf(new AppError("UNAVAILABLE", "db down"))).toBeNull();
    expect(refusalOf(new Error("boom"))).toBeNull();
  });
});

describe("countRefusal: counted always, audited bounded", () => {
  it("writes one event per caller, route and reason for the 1st, 10th and 100th refusal, with the count", async () => {
    const written: boolean[] = [];
    for (let i = 0; i < 120; i++) written.push(await countRefusal(anon("203.0.113.9"), refusalOf(unauthorized)!));
    expect(written.filter(Boolean)).toHaveLength(3);
    const e = await events();
    expect(e.slice(-3).map((x) => x.payload.count)).toEqual([1, 10, 100]);
    expect(e.at(-1)).toMatchObject({ actorName: "anonymous", ip: "203.0.113.9", action: "auth.refused", target: "beta" });
    expect(e.at(-1)!.payload).toMatchObject({ method: "POST", route: "/api/channels/:name/promote", status: 401, reason: "no-credentials" });
    const row = await getDb().refusedAttempt.findFirstOrThrow({ where: { address: "203.0.113.9" } });
    expect(row).toMatchObject({ who: "anonymous", count: 120, events: 3, target: "" });
  });

  it("does not make a row per typed target for an anonymous caller", async () => {
    for (let i = 0; i < 30; i++) await countRefusal(anon("203.0.113.10", `/api/channels/c${i}/promote`), refusalOf(unauthorized)!);
    expect(await getDb().refusedAttempt.count({ where: { address: "203.0.113.10" } })).toBe(1);
  });

  it("caps an anonymous address's events per window, marking the last one, and counts the rest", async () => {
    const before = (await events()).length;
    const routes = ["plan", "promote", "rollback"];
    const reasons = ["no-credentials", "token-unknown", "validation", "too-large", "not-found", "conflict", "gate", "busy", "forbidden"];
    for (const r of routes) for (const reason of reasons) await countRefusal(anon("198.51.100.7", `/api/channels/beta/${r}`), { status: 400, code: "BAD_REQUEST", reason, message: "x" });
    const written = (await events()).slice(before);
    expect(written).toHaveLength(ANONYMOUS_ADDRESS_LIMIT);
    expect(written.at(-1)!.payload.capped).toBe(true);
    expect(written.slice(0, -1).every((x) => x.payload.capped === undefined)).toBe(true);
    const counted = await getDb().refusedAttempt.aggregate({ _sum: { count: true }, where: { address: "198.51.100.7" } });
    expect(counted._sum.count).toBe(routes.length * reasons.length);
    // Another address has its own allowance.
    expect(await countRefusal(anon("198.51.100.8"), refusalOf(unauthorized)!)).toBe(true);
  });

  it("caps anonymous events over all addresses together", async () => {
    const before = (await events()).length;
    for (let i = 0; i < ANONYMOUS_TOTAL_LIMIT + 20; i++) await countRefusal(anon(`2001:db8::${i.toString(16)}`), refusalOf(unauthorized)!);
    const written = (await events()).slice(before);
    expect(written).toHaveLength(ANONYMOUS_TOTAL_LIMIT);
    expect(written.at(-1)!.payload.capped).toBe(true);
  }, 120_000);

  it("keys a named caller by target too, within its own cap", async () => {
    const req = (target: string): RefusedRequest => ({ method: "POST", pathname: `/api/channels/${target}/promote`, actor: deployer, address: "10.0.0.5", userAgent: null, bearer: true });
    const forbidden = new AppError("FORBIDDEN", "limited to canary", { refusal: "token-channel", permission: "channels.promote", channel: "beta" });
    expect(await countRefusal(req("beta"), refusalOf(forbidden)!)).toBe(true);
    expect(await countRefusal(req("beta"), refusalOf(forbidden)!)).toBe(false);
    expect(await countRefusal(req("beta2"), refusalOf(forbidden)!)).toBe(true);
    const e = (await events()).at(-1)!;
    expect(e).toMatchObject({ actorName: "dora", actorId: 42, source: "api", target: "beta2" });
    expect(e.payload).toMatchObject({ reason: "token-channel", permission: "channels.promote", channel: "beta", count: 1 });
    for (let i = 0; i < CALLER_LIMIT + 5; i++) await countRefusal(req(`t${i}`), refusalOf(forbidden)!);
    const used = await getDb().refusedAttempt.aggregate({ _sum: { events: true }, where: { who: "user:42" } });
    expect(used._sum.events).toBe(CALLER_LIMIT);
  });

  it("counts refusals of one new key that arrive together", async () => {
    await Promise.all(Array.from({ length: 5 }, () => countRefusal(anon("192.0.2.99"), refusalOf(unauthorized)!)));
    expect(await getDb().refusedAttempt.findFirstOrThrow({ where: { address: "192.0.2.99" } })).toMatchObject({ count: 5, events: 1 });
  });

  it("starts a new window after WINDOW_MS, reporting the previous window's count", async () => {
    const t0 = new Date("2026-12-01T10:00:00Z");
    for (let i = 0; i < 4; i++) await countRefusal(anon("192.0.2.1"), refusalOf(unauthorized)!, new Date(t0.getTime() + i * 1000));
    expect(await countRefusal(anon("192.0.2.1"), refusalOf(unauthorized)!, new Date(t0.getTime() + WINDOW_MS + 5000))).toBe(true);
    expect((await events()).at(-1)!.payload).toMatchObject({ count: 1, previousCount: 4 });
  });
});
