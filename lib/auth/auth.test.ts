import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import type { Actor } from "../audit/log";
import { getDb } from "../db";
import { hashPassword, verifyPassword } from "./password";
import { can, deniedReason, ROLE_PERMISSIONS } from "./permissions";
import { json, route } from "../http";
import { authorize } from "./authorize";
import { requireApiPermission } from "./guard";
import { createApiToken, listApiTokens, parseExpiry, resolveToken, revokeApiToken, userForToken } from "./tokens";
import { disableOtherUser, listUsers, setUserRole } from "./user-admin";
import { addUser, authenticate, disableUser } from "./users";

const cli: Actor = { id: null, name: "cli:test", source: "cli", role: "admin" };

beforeAll(() => {
  useTestDatabase();
});

describe("passwords", () => {
  it("verifies the right password only, with a fresh salt each time", async () => {
    const a = await hashPassword("correct horse battery");
    const b = await hashPassword("correct horse battery");
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse batterY", a)).toBe(false);
    expect(await verifyPassword("x", "not-a-hash")).toBe(false);
  });
});

describe("permissions", () => {
  it("gives each role what the table says", () => {
    expect(can("viewer", "builds.read")).toBe(true);
    expect(can("viewer", "hosts.refresh")).toBe(false);
    expect(can("deployer", "channels.promote")).toBe(true);
    expect(can("deployer", "admin")).toBe(false);
    expect(ROLE_PERMISSIONS.admin).toContain("admin");
    expect(can(null, "builds.read")).toBe(false);
    expect(deniedReason("viewer", "hosts.refresh")).toBe("Your role (viewer) lacks the hosts.refresh permission.");
    expect(deniedReason("admin", "hosts.refresh")).toBeNull();
  });

  it("has its own read permissions for channels and deployments, which every role holds", () => {
    for (const role of ["viewer", "deployer", "admin"] as const) {
      expect(can(role, "channels.read")).toBe(true);
      expect(can(role, "deployments.read")).toBe(true);
    }
  });
});

describe("users and tokens", () => {
  it("adds a user, authenticates it, and audits without the password", async () => {
    await addUser("alice", "deployer", "a long enough password", cli);
    expect(await authenticate("alice", "a long enough password")).toMatchObject({ name: "alice", role: "deployer" });
    expect(await authenticate("alice", "wrong password")).toBeNull();
    expect(await authenticate("nobody", "a long enough password")).toBeNull();
    const events = await getDb().auditEvent.findMany({ where: { action: "user.add" } });
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toBe('{"role":"deployer"}');
    expect(JSON.stringify(events)).not.toContain("a long enough password");
  });

  it("refuses bad names, roles and short passwords, changing nothing", async () => {
    await expect(addUser("Bob; rm -rf /", "viewer", "a long enough password", cli)).rejects.toThrow(/user name/);
    await expect(addUser("bob", "root" as never, "a long enough password", cli)).rejects.toThrow(/role must be one of/);
    await expect(addUser("bob", "viewer", "short", cli)).rejects.toThrow(/at least 10/);
    expect(await getDb().user.count({ where: { name: "bob" } })).toBe(0);
  });

  it("issues a token that maps to its user, stored only as a hash", async () => {
    const { token, prefix } = await createApiToken("alice", "ci", cli);
    expect(token.startsWith(prefix)).toBe(true);
    expect(await userForToken(token)).toMatchObject({ name: "alice", role: "deployer" });
    expect(await userForToken(token + "x")).toBeNull();
    expect(await userForToken("not-a-token")).toBeNull();
    const rows = await getDb().apiToken.findMany({ omit: { tokenHash: false } });
    expect(rows[0]!.tokenHash).not.toContain(token);
    expect(JSON.stringify(await getDb().auditEvent.findMany())).not.toContain(token);
  });

  it("stops honouring a token once revoked or its user disabled, with audit events", async () => {
    const { token, prefix } = await createApiToken("alice", "revoke-me", cli);
    expect(await userForToken(token)).not.toBeNull();
    expect(await revokeApiToken(prefix, cli)).toBe(1);
    expect(await userForToken(token)).toBeNull();
    await expect(revokeApiToken(prefix, cli)).rejects.toThrow(/no active token/);
    expect((await listApiTokens("alice")).find((t) => t.prefix === prefix)?.revokedAt).toBeInstanceOf(Date);
    const { token: t2 } = await createApiToken("alice", "disable-me", cli);
    await disableUser("alice", cli);
    expect(await userForToken(t2)).toBeNull();
    expect(await authenticate("alice", "a long enough password")).toBeNull();
    const actions = (await getDb().auditEvent.findMany({ orderBy: { id: "asc" } })).map((e) => e.action);
    expect(actions).toContain("token.revoke");
    expect(actions).toContain("user.disable");
    await expect(disableUser("nobody", cli)).rejects.toThrow(/no user named nobody/);
  });
});

describe("admin-only domain functions", () => {
  it("lets only an admin add or disable users and create or revoke tokens, writing nothing otherwise", async () => {
    await addUser("erin", "viewer", "a long enough password", cli);
    const { prefix } = await createApiToken("erin", "keep", cli);
    const db = getDb();
    const before = { users: await db.user.count(), tokens: await db.apiToken.count(), events: await db.auditEvent.count() };
    for (const role of ["viewer", "deployer"] as const) {
      const actor: Actor = { id: 99, name: `mallory-${role}`, source: "ui", role };
      await expect(addUser("mallory", "admin", "a long enough password", actor)).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(addUser("erin", "admin", "a long enough password", actor)).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(disableUser("erin", actor)).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(createApiToken("erin", "stolen", actor)).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(revokeApiToken(prefix, actor)).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
    expect({ users: await db.user.count(), tokens: await db.apiToken.count(), events: await db.auditEvent.count() }).toEqual(before);
    expect(await db.user.findUniqueOrThrow({ where: { name: "erin" } })).toMatchObject({ role: "viewer", disabledAt: null });
    expect((await listApiTokens("erin"))[0]!.revokedAt).toBeNull();
  });
});

describe("token scopes", () => {
  it("creates a token limited to channels and permissions within the user's role, with an expiry, audited", async () => {
    await addUser("cici", "deployer", "a long enough password", cli);
    const expiresAt = parseExpiry("30d");
    const { token, prefix } = await createApiToken("cici", "ci-canary", cli, { channels: ["canary"], permissions: ["channels.promote", "builds.read"], expiresAt });
    const r = await resolveToken(token);
    expect(r).toMatchObject({ ok: true, user: { name: "cici", role: "deployer" }, scope: { prefix, channels: ["canary"], permissions: ["channels.promote", "builds.read"] } });
    const listed = (await listApiTokens("cici")).find((t) => t.prefix === prefix)!;
    expect(listed).toMatchObject({ channels: ["canary"], permissions: ["channels.promote", "builds.read"], expiresAt });
    const event = await getDb().auditEvent.findFirstOrThrow({ where: { action: "token.create", target: "cici" }, orderBy: { id: "desc" } });
    expect(JSON.parse(event.payload)).toEqual({ tokenName: "ci-canary", prefix, channels: ["canary"], permissions: ["channels.promote", "builds.read"], expiresAt: expiresAt.toISOString() });
  });

  it("refuses limits past the user's role, unknown permissions, admin on a channel token, and a past expiry, creating nothing", async () => {
    const before = await getDb().apiToken.count();
    await expect(createApiToken("cici", "x", cli, { permissions: ["admin"] })).rejects.toThrow(/lacks admin; a token carries at most its user's role/);
    await expect(createApiToken("cici", "x", cli, { permissions: ["root"] })).rejects.toThrow(/unknown permission root/);
    await expect(createApiToken("cici", "x", cli, { permissions: [] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(createApiToken("cici", "x", cli, { channels: ["Bad Name"] })).rejects.toThrow(/is not a channel name/);
    await expect(createApiToken("cici", "x", cli, { expiresAt: new Date(Date.now() - 1000) })).rejects.toThrow(/in the future/);
    await addUser("adam", "admin", "a long enough password", cli);
    await expect(createApiToken("adam", "x", cli, { channels: ["canary"], permissions: ["admin"] })).rejects.toThrow(/cannot carry the admin permission/);
    expect(() => parseExpiry("soon")).toThrow(/neither a duration/);
    expect(() => parseExpiry("4000d")).toThrow(/at most 3650 days/);
    expect(parseExpiry("12h", new Date("2026-12-01T00:00:00Z")).toISOString()).toBe("2026-12-01T12:00:00.000Z");
    expect(await getDb().apiToken.count()).toBe(before);
  });

  it("tells an expired, revoked or disabled user's token apart, and reads the user's role at each use", async () => {
    const { token, prefix } = await createApiToken("cici", "short", cli, { expiresAt: new Date(Date.now() + 60_000) });
    expect(await resolveToken(token, new Date(Date.now() + 120_000))).toMatchObject({ ok: false, state: "expired", prefix, user: { name: "cici" } });
    const db = getDb();
    await db.user.update({ where: { name: "cici" }, data: { role: "viewer" } });
    expect(await resolveToken(token)).toMatchObject({ ok: true, user: { role: "viewer" } });
    await db.user.update({ where: { name: "cici" }, data: { role: "deployer" } });
    await revokeApiToken(prefix, cli);
    expect(await resolveToken(token)).toMatchObject({ ok: false, state: "revoked", prefix });
    expect(await resolveToken("sct_nothing")).toEqual({ ok: false, state: "unknown" });
  });
});

describe("the guard and route(): scopes enforced, refusals audited in one place", () => {
  const call = (token: string, path: string) =>
    new Request(`http://127.0.0.1:3000${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "x-forwarded-for": "127.0.0.1" } });

  it("gives a canary-only token 403 on beta and lets it through on canary; the refusal is audited as its user", async () => {
    const { token } = await createApiToken("cici", "guarded", cli, { channels: ["canary"], permissions: ["channels.promote"] });
    const handler = route(async (request, channel: string) => {
      const { actor } = await requireApiPermission(request, "channels.promote", { channel });
      authorize(actor, "channels.promote", channel);
      return json({ ok: true });
    });
    const beta = await handler(call(token, "/api/channels/beta/promote"), "beta");
    expect(beta.status).toBe(403);
    expect((await beta.json()).error.message).toMatch(/limited to the channel canary; beta is not one of them/);
    expect((await handler(call(token, "/api/channels/canary/promote"), "canary")).status).toBe(200);
    const refused = await getDb().auditEvent.findFirstOrThrow({ where: { action: "auth.refused" }, orderBy: { id: "desc" } });
    expect(refused).toMatchObject({ actorName: "cici", source: "api", target: "beta", ip: "127.0.0.1" });
    expect(JSON.parse(refused.payload)).toMatchObject({ route: "/api/channels/:name/promote", status: 403, reason: "token-channel", permission: "channels.promote", channel: "beta", count: 1 });
    expect(refused.payload).not.toContain(token);
  });

  it("refuses a token lacking the permission, and a revoked token as 401 counted against its owner", async () => {
    const { token, prefix } = await createApiToken("cici", "narrow", cli, { permissions: ["builds.read"] });
    const handler = route(async (request) => {
      await requireApiPermission(request, "hosts.refresh");
      return json({ ok: true });
    });
    const res = await handler(call(token, "/api/hosts/refresh"));
    expect(res.status).toBe(403);
    expect((await res.json()).error.message).toMatch(/is limited to builds.read; it lacks hosts.refresh/);
    await revokeApiToken(prefix, cli);
    expect((await handler(call(token, "/api/hosts/refresh"))).status).toBe(401);
    const refused = await getDb().auditEvent.findFirstOrThrow({ where: { action: "auth.refused" }, orderBy: { id: "desc" } });
    expect(refused).toMatchObject({ actorName: "cici" });
    expect(JSON.parse(refused.payload)).toMatchObject({ status: 401, reason: "token-revoked", token: { prefix, state: "revoked" } });
  });
});

describe("user administration for the admin pages", () => {
  const admin = async () => {
    const u = await getDb().user.findUniqueOrThrow({ where: { name: "adam" } });
    return { id: u.id, name: u.name, source: "ui", role: "admin" } satisfies Actor;
  };

  it("lists users with role, creation, last sign-in and working tokens", async () => {
    const users = await listUsers();
    const cici = users.find((u) => u.name === "cici")!;
    expect(cici).toMatchObject({ role: "deployer", disabledAt: null, lastSignInAt: null });
    expect(cici.activeTokens).toBeGreaterThan(0);
  });

  it("changes another user's role, audited, and refuses one's own account and non-admins", async () => {
    const me = await admin();
    await setUserRole("cici", "viewer", me);
    expect((await getDb().user.findUniqueOrThrow({ where: { name: "cici" } })).role).toBe("viewer");
    const event = await getDb().auditEvent.findFirstOrThrow({ where: { action: "user.role" }, orderBy: { id: "desc" } });
    expect(event).toMatchObject({ actorName: "adam", target: "cici", payload: '{"from":"deployer","to":"viewer"}' });
    await expect(setUserRole("adam", "viewer", me)).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(disableOtherUser("adam", me)).rejects.toMatchObject({ code: "CONFLICT" });
    await expect(setUserRole("cici", "admin", { id: 5, name: "dora", source: "ui", role: "deployer" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(setUserRole("nobody", "viewer", me)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await disableOtherUser("cici", me);
    await expect(disableOtherUser("cici", me)).rejects.toThrow(/already disabled/);
    expect((await getDb().user.findUniqueOrThrow({ where: { name: "adam" } })).role).toBe("admin");
  });
});
