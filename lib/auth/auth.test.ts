import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import type { Actor } from "../audit/log";
import { getDb } from "../db";
import { hashPassword, verifyPassword } from "./password";
import { can, deniedReason, ROLE_PERMISSIONS } from "./permissions";
import { createApiToken, listApiTokens, revokeApiToken, userForToken } from "./tokens";
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
