// What an identity provider's claims mean here: the person's groups, the role they grant, and a
// user name in this app's grammar. Pure, so the mapping can be tested without a provider.
import { createHash } from "node:crypto";
import type { OidcConfig } from "../config-schema";
import type { Role } from "./permissions";

/** Names the audit log uses for actors that are not people; nobody may sign in as one. */
export const RESERVED_USER_NAMES = ["anonymous", "system"];

/** Precedence: the first role whose groups the person is in wins. */
const ROLE_ORDER = ["admin", "deployer", "viewer"] as const satisfies readonly Role[];

export type Claims = Record<string, unknown>;

/**
 * The person's groups from the configured claim: a list of strings, or one string. A claim
 * name that is not there as such is followed as a dotted path ("realm_access.roles").
 */
export function groupsFromClaims(claims: Claims, claim: string): string[] | null {
  let value: unknown = claims[claim];
  if (value === undefined && claim.includes(".")) {
    value = claim.split(".").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Claims)[k] : undefined), claims);
  }
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string");
  return null;
}

export interface RoleDecision {
  role: Role;
  /** The person's groups that granted the role (empty when it is the default role). */
  groups: string[];
}

/**
 * The role for a set of groups: admin before deployer before viewer, else the default role, else
 * null (refused). Groups compare without regard to case (LDAP names and DNs are case-insensitive).
 */
export function roleForGroups(groups: readonly string[], oidc: Pick<OidcConfig, "roles" | "defaultRole">): RoleDecision | null {
  const held = new Map(groups.map((g) => [g.toLowerCase(), g]));
  for (const role of ROLE_ORDER) {
    const granting = oidc.roles[role].map((g) => held.get(g.toLowerCase())).filter((g): g is string => g !== undefined);
    if (granting.length > 0) return { role, groups: [...new Set(granting)] };
  }
  return oidc.defaultRole ? { role: oidc.defaultRole, groups: [] } : null;
}

/**
 * A user name in the app's grammar (2-40 of a-z 0-9 . _ -, starting with a letter) from
 * preferred_username, or sub when there is none: lower-cased, accents dropped, anything else a dash.
 */
export function userNameFromClaims(claims: Claims): string {
  const sub = String(claims.sub ?? "");
  const preferred = typeof claims.preferred_username === "string" && claims.preferred_username.trim() ? claims.preferred_username : sub;
  let name = preferred
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[^a-z0-9]+|-+$/g, "");
  if (name && !/^[a-z]/.test(name)) name = `u${name}`;
  name = name.slice(0, 40);
  if (name.length < 2) name = `user-${createHash("sha256").update(sub).digest("hex").slice(0, 10)}`;
  return name;
}
