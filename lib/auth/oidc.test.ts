import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import type { Actor } from "../audit/log";
import { ConfigError, parseConfig, type OidcConfig } from "../config";
import { getDb } from "../db";
import { signInWithOidc } from "./oidc";
import { createSession, userForSession } from "./sessions";
import { addUser, disableUser } from "./users";

const cli: Actor = { id: null, name: "cli:test", source: "cli", role: "admin" };
const oidc: OidcConfig = {
  issuer: "https://idp.example.org/cas/oidc",
  clientId: "scap-channels",
  name: "Example IdP",
  scopes: ["openid", "profile", "groups"],
  groupsClaim: "memberOf",
  roles: { admin: ["scap-admins"], deployer: ["scap-deployers"], viewer: ["wmf"] },
};
const request = { address: "192.0.2.7", userAgent: "test" };

beforeAll(() => {
  useTestDatabase();
});

async function lastEvent(action: string) {
  const e = await getDb().auditEvent.findFirst({ where: { action }, orderBy: { id: "desc" } });
  return e && { ...e, payload: JSON.parse(e.payload) as Record<string, unknown> };
}

describe("signing in with the identity provider", () => {
  it("creates a user without a password on the first sign-in, with the role from the groups, audited", async () => {
    const out = await signInWithOidc({ sub: "u-100", preferred_username: "Alice", memberOf: ["wmf", "scap-deployers"] }, oidc, request);
    expect(out).toEqual({ user: { id: expect.any(Number), name: "alice", role: "deployer" } });
    const row = await getDb().user.findUniqueOrThrow({ where: { name: "alice" }, omit: { passwordHash: false } });
    expect(row).toMatchObject({ role: "deployer", passwordHash: null, oidcSubject: "https://idp.example.org/cas/oidc u-100" });
    expect(row.lastSignInAt).toBeInstanceOf(Date);
    // A password for an identity-provider user would be a second way in: refused, nothing changed.
    await expect(addUser("alice", "admin", "a long enough password", cli)).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await getDb().user.findUniqueOrThrow({ where: { name: "alice" }, omit: { passwordHash: false } })).toMatchObject({ role: "deployer", passwordHash: null });
    expect(await lastEvent("user.signin")).toMatchObject({
      actorName: "alice",
      source: "ui",
      ip: "192.0.2.7",
      payload: { method: "oidc", role: "deployer", groups: ["scap-deployers"] },
    });
  });

  it("recomputes the role at every sign-in; every session of the person has the new role at once", async () => {
    const first = await signInWithOidc({ sub: "u-200", preferred_username: "bob", memberOf: ["scap-admins"] }, oidc, request);
    if (!("user" in first)) throw new Error("refused");
    const sid = await createSession(first.user.id);
    const again = await signInWithOidc({ sub: "u-200", preferred_username: "bob", memberOf: ["wmf"] }, oidc, request);
    expect(again).toEqual({ user: { id: first.user.id, name: "bob", role: "viewer" } });
    expect((await userForSession(sid))?.role).toBe("viewer");
    expect((await lastEvent("user.signin"))?.payload).toEqual({ method: "oidc", role: "viewer", groups: ["wmf"], previousRole: "admin" });
  });

  it("refuses a person in no mapped group, audited as anonymous with the name in the payload; no user is made", async () => {
    const out = await signInWithOidc({ sub: "u-300", preferred_username: "carol", memberOf: ["unrelated"] }, oidc, request);
    expect(out).toEqual({ refused: "no-role" });
    expect(await getDb().user.findUnique({ where: { name: "carol" } })).toBeNull();
    expect(await lastEvent("user.signin-failed")).toMatchObject({ actorName: "anonymous", ip: "192.0.2.7", payload: { reason: "no-role", attemptedName: "carol" } });
    // Without the claim at all, the same.
    expect(await signInWithOidc({ sub: "u-301", preferred_username: "dave" }, oidc, request)).toEqual({ refused: "no-role" });
  });

  it("bounds the refusal events like failed passwords: the first, the one that pauses, none past the address limit", async () => {
    const before = await getDb().auditEvent.count({ where: { action: "user.signin-failed" } });
    const from = { address: "192.0.2.99", userAgent: null };
    for (let i = 0; i < 30; i++) await signInWithOidc({ sub: "u-400", preferred_username: "erin", memberOf: [] }, oidc, from);
    const written = (await getDb().auditEvent.count({ where: { action: "user.signin-failed" } })) - before;
    expect(written).toBe(3); // first, 5th (pauses the name), 20th (pauses the address)
  });

  it("gives the default role to someone in no group when one is set", async () => {
    const out = await signInWithOidc({ sub: "u-500", preferred_username: "frida", memberOf: [] }, { ...oidc, defaultRole: "viewer" }, request);
    expect(out).toEqual({ user: { id: expect.any(Number), name: "frida", role: "viewer" } });
  });

  it("never takes over a local account or a reserved name, and refuses a disabled person", async () => {
    await addUser("gus", "admin", "a long enough password", cli);
    expect(await signInWithOidc({ sub: "u-600", preferred_username: "gus", memberOf: ["wmf"] }, oidc, request)).toEqual({ refused: "name-taken" });
    expect(await signInWithOidc({ sub: "u-601", preferred_username: "system", memberOf: ["wmf"] }, oidc, request)).toEqual({ refused: "name-taken" });
    const hank = await signInWithOidc({ sub: "u-602", preferred_username: "hank", memberOf: ["wmf"] }, oidc, request);
    expect(hank).toHaveProperty("user");
    await disableUser("hank", cli);
    expect(await signInWithOidc({ sub: "u-602", preferred_username: "hank", memberOf: ["scap-admins"] }, oidc, request)).toEqual({ refused: "disabled" });
    expect((await getDb().user.findUniqueOrThrow({ where: { name: "hank" } })).role).toBe("viewer");
  });

  it("keeps one user per subject across a renamed preferred_username, and tells issuers apart", async () => {
    const a = await signInWithOidc({ sub: "u-700", preferred_username: "ivy", memberOf: ["wmf"] }, oidc, request);
    const b = await signInWithOidc({ sub: "u-700", preferred_username: "ivy.new", memberOf: ["wmf"] }, oidc, request);
    if (!("user" in a) || !("user" in b)) throw new Error("refused");
    expect(b.user).toEqual({ id: a.user.id, name: "ivy.new", role: "viewer" });
    // The same sub from another issuer is another person, and "ivy.new" is theirs already.
    expect(await signInWithOidc({ sub: "u-700", preferred_username: "ivy.new", memberOf: ["wmf"] }, { ...oidc, issuer: "https://other.example.org" }, request)).toEqual({ refused: "name-taken" });
  });
});

const BASE = `
repository: { url: "http://127.0.0.1:8080/", unsigned: true }
ssh: { privateKeyPath: k, knownHostsPath: h }
hosts: [{ name: deploy01 }]
channels: [{ name: canary, hosts: all }]
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "/etc/scap-channels/config.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("the auth block of the config", () => {
  it("defaults to local accounts, 2 hours idle and 12 hours at most, no identity provider", () => {
    expect(parseConfig(BASE, "/x/config.yaml").auth).toEqual({ local: true, session: { idleMinutes: 120, maxHours: 12 } });
  });

  it("fills the identity provider's defaults", () => {
    const c = parseConfig(`${BASE}auth:\n  local: false\n  session: { idleMinutes: 30, maxHours: 8 }\n  oidc:\n    issuer: https://idp.example.org/cas/oidc\n    clientId: scap\n    roles: { deployer: [releng] }\n`, "/x/config.yaml");
    expect(c.auth).toEqual({
      local: false,
      session: { idleMinutes: 30, maxHours: 8 },
      oidc: {
        issuer: "https://idp.example.org/cas/oidc",
        clientId: "scap",
        name: "single sign-on",
        scopes: ["openid", "profile"],
        groupsClaim: "groups",
        roles: { admin: [], deployer: ["releng"], viewer: [] },
      },
    });
  });

  it("refuses what could not work, naming the key", () => {
    expect(problems(`${BASE}auth: { local: false }`)).toEqual(["auth.local: false needs auth.oidc: with neither, nobody could sign in"]);
    expect(problems(`${BASE}auth: { oidc: { issuer: "https://idp.example.org", clientId: c } }`)[0]).toMatch(/^auth\.oidc\.roles: name at least one group/);
    expect(problems(`${BASE}auth: { oidc: { issuer: "http://idp.example.org", clientId: c, defaultRole: viewer } }`)[0]).toMatch(/^auth\.oidc\.issuer: must be an https URL/);
    expect(problems(`${BASE}auth: { oidc: { issuer: "https://i", clientId: c, defaultRole: root } }`)[0]).toMatch(/^auth\.oidc\.defaultRole:/);
    expect(problems(`${BASE}auth: { oidc: { issuer: "https://i", clientId: c, defaultRole: viewer, clientSecret: s } }`)).toEqual(["auth.oidc: unknown key(s) clientSecret"]);
    expect(problems(`${BASE}auth: { oidc: { issuer: "https://i", clientId: c, defaultRole: viewer, scopes: [profile] } }`)).toEqual(["auth.oidc.scopes: must include openid"]);
    expect(problems(`${BASE}auth: { session: { idleMinutes: 0 } }`)[0]).toMatch(/^auth\.session\.idleMinutes:/);
    expect(problems(`${BASE}auth: { oidc: { issuer: "https://i", clientId: c, roles: { owner: [x] } } }`)[0]).toBe("auth.oidc.roles: unknown key(s) owner");
  });

  it("accepts http only for a provider on this machine", () => {
    const c = parseConfig(`${BASE}auth: { oidc: { issuer: "http://127.0.0.1:3412", clientId: c, defaultRole: viewer } }`, "/x/config.yaml");
    expect(c.auth.oidc?.issuer).toBe("http://127.0.0.1:3412");
  });
});
