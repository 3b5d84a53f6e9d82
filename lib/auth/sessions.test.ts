import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import type { Actor } from "../audit/log";
import { getDb } from "../db";
import { createSession, endSession, userForSession } from "./sessions";
import { addUser, disableUser } from "./users";

const cli: Actor = { id: null, name: "cli:test", source: "cli", role: "admin" };

beforeAll(() => {
  useTestDatabase();
});

describe("browser sessions", () => {
  it("ends at sign-out: the same session id no longer finds a user", async () => {
    const user = await addUser("frank", "deployer", "a long enough password", cli);
    const sid = await createSession(user.id);
    const other = await createSession(user.id);
    expect(await userForSession(sid)).toEqual({ id: user.id, name: "frank", role: "deployer" });
    await endSession(sid);
    expect(await userForSession(sid)).toBeNull();
    expect(await userForSession(other)).not.toBeNull();
  });

  it("ends every session of a disabled user at once", async () => {
    const user = await addUser("grace", "viewer", "a long enough password", cli);
    const a = await createSession(user.id);
    const b = await createSession(user.id);
    await disableUser("grace", cli);
    expect(await userForSession(a)).toBeNull();
    expect(await userForSession(b)).toBeNull();
    expect(await getDb().session.count({ where: { userId: user.id } })).toBe(0);
  });

  it("reads the role from the user on every request", async () => {
    const user = await addUser("heidi", "deployer", "a long enough password", cli);
    const sid = await createSession(user.id);
    await getDb().user.update({ where: { id: user.id }, data: { role: "viewer" } });
    expect((await userForSession(sid))?.role).toBe("viewer");
  });

  it("ends the sessions of a user whose password and role are reset", async () => {
    const user = await addUser("ivan", "admin", "a long enough password", cli);
    const sid = await createSession(user.id);
    await addUser("ivan", "viewer", "another long password", cli);
    expect(await userForSession(sid)).toBeNull();
  });

  it("expires at the absolute limit however busy, and stores only a hash of the id", async () => {
    const user = await addUser("judy", "viewer", "a long enough password", cli);
    const limits = { idleMs: 60 * 60_000, maxMs: 12 * 3_600_000 };
    const t0 = new Date("2026-12-01T08:00:00Z");
    const sid = await createSession(user.id, t0, limits);
    // Used every 30 minutes: never idle, still ends 12 hours after sign-in.
    for (let t = t0.getTime() + 30 * 60_000; t < t0.getTime() + limits.maxMs; t += 30 * 60_000) {
      expect(await userForSession(sid, new Date(t), limits)).not.toBeNull();
    }
    expect(await userForSession(sid, new Date(t0.getTime() + limits.maxMs - 1), limits)).not.toBeNull();
    expect(await userForSession(sid, new Date(t0.getTime() + limits.maxMs), limits)).toBeNull();
    expect(JSON.stringify(await getDb().session.findMany())).not.toContain(sid);
    expect(await userForSession("made-up")).toBeNull();
  });

  it("ends after the idle limit without a request, and a request resets the idle clock", async () => {
    const user = await addUser("karl", "viewer", "a long enough password", cli);
    const limits = { idleMs: 10 * 60_000, maxMs: 12 * 3_600_000 };
    const t0 = new Date("2026-12-01T08:00:00Z");
    const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const sid = await createSession(user.id, t0, limits);
    expect(await userForSession(sid, at(9), limits)).not.toBeNull();
    expect(await userForSession(sid, at(18), limits)).not.toBeNull(); // 9 minutes after the last request
    expect(await userForSession(sid, at(28), limits)).toBeNull(); // 10 minutes without one
    expect(await getDb().session.count({ where: { userId: user.id } })).toBe(0);
  });

  it("applies a limit lowered after sign-in to sessions that already exist", async () => {
    const user = await addUser("lena", "viewer", "a long enough password", cli);
    const t0 = new Date("2026-12-01T08:00:00Z");
    const sid = await createSession(user.id, t0, { idleMs: 3_600_000, maxMs: 12 * 3_600_000 });
    const lowered = { idleMs: 3_600_000, maxMs: 2 * 3_600_000 };
    expect(await userForSession(sid, new Date(t0.getTime() + 30 * 60_000), lowered)).not.toBeNull();
    expect(await userForSession(sid, new Date(t0.getTime() + 2 * 3_600_000), lowered)).toBeNull();
  });
});
