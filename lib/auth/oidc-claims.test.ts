import { describe, expect, it } from "vitest";
import { groupsFromClaims, roleForGroups, userNameFromClaims } from "./oidc-claims";
import { userNameSchema } from "./users";

const roles = {
  admin: ["scap-admins"],
  deployer: ["scap-deployers", "releng"],
  viewer: ["wmf", "nda"],
};

describe("group to role mapping", () => {
  it("gives the role of the group the person is in", () => {
    expect(roleForGroups(["releng"], { roles })).toEqual({ role: "deployer", groups: ["releng"] });
    expect(roleForGroups(["nda"], { roles })).toEqual({ role: "viewer", groups: ["nda"] });
  });

  it("takes the highest role when several groups match: admin > deployer > viewer", () => {
    expect(roleForGroups(["wmf", "releng", "scap-deployers"], { roles })).toEqual({ role: "deployer", groups: ["scap-deployers", "releng"] });
    expect(roleForGroups(["wmf", "scap-admins", "releng"], { roles })).toEqual({ role: "admin", groups: ["scap-admins"] });
    expect(roleForGroups(["nda", "wmf", "unrelated"], { roles })?.role).toBe("viewer");
  });

  it("compares group names without regard to case, and reports them as the provider spelled them", () => {
    const dn = { admin: [], deployer: ["cn=scap-deployers,ou=groups,dc=example,dc=org"], viewer: [] };
    expect(roleForGroups(["CN=Scap-Deployers,OU=groups,DC=example,DC=org"], { roles: dn })).toEqual({
      role: "deployer",
      groups: ["CN=Scap-Deployers,OU=groups,DC=example,DC=org"],
    });
  });

  it("falls back to defaultRole when no group matches, and refuses without one", () => {
    expect(roleForGroups(["unrelated"], { roles, defaultRole: "viewer" })).toEqual({ role: "viewer", groups: [] });
    expect(roleForGroups(["releng"], { roles, defaultRole: "viewer" })?.role).toBe("deployer");
    expect(roleForGroups(["unrelated"], { roles })).toBeNull();
    expect(roleForGroups([], { roles })).toBeNull();
    // A group name that is a prefix or part of a mapped one grants nothing.
    expect(roleForGroups(["scap-admin", "scap-admins-old"], { roles })).toBeNull();
  });
});

describe("groups from the claims", () => {
  it("reads a list, a single string, or a dotted path; a missing claim is null", () => {
    expect(groupsFromClaims({ groups: ["a", "b", 3] }, "groups")).toEqual(["a", "b"]);
    expect(groupsFromClaims({ memberOf: "cn=x" }, "memberOf")).toEqual(["cn=x"]);
    expect(groupsFromClaims({ realm_access: { roles: ["r"] } }, "realm_access.roles")).toEqual(["r"]);
    expect(groupsFromClaims({ "https://example.org/groups": ["u"] }, "https://example.org/groups")).toEqual(["u"]);
    expect(groupsFromClaims({ sub: "x" }, "groups")).toBeNull();
    expect(groupsFromClaims({ groups: { a: 1 } }, "groups")).toBeNull();
  });
});

describe("user names from the claims", () => {
  it("sanitises preferred_username, else sub, to the user-name grammar", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ sub: "1", preferred_username: "jdoe" }, "jdoe"],
      [{ sub: "1", preferred_username: "Jane.Doe@Example.ORG" }, "jane.doe-example.org"],
      [{ sub: "1", preferred_username: "Zoë Ågren" }, "zoe-agren"],
      [{ sub: "1", preferred_username: "  " }, "u1"],
      [{ sub: "12345" }, "u12345"],
      [{ sub: "1", preferred_username: "__xy" }, "xy"],
      [{ sub: "1", preferred_username: "$(touch /tmp/x); rm -rf /" }, "touch-tmp-x-rm-rf"],
      [{ sub: "1", preferred_username: "a".repeat(80) }, "a".repeat(40)],
    ];
    for (const [claims, name] of cases) {
      expect(userNameFromClaims(claims)).toBe(name);
      expect(userNameSchema.safeParse(name).success).toBe(true);
    }
    const fallback = userNameFromClaims({ sub: "汉字", preferred_username: "汉" });
    expect(fallback).toMatch(/^user-[0-9a-f]{10}$/);
    expect(userNameFromClaims({ sub: "汉字" })).toBe(fallback); // stable for the same sub
  });
});
