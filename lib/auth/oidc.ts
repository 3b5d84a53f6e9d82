import "server-only";
import type { OAuthConfig } from "next-auth/providers/oauth";
import type { TokenSet } from "openid-client";
import { recordAudit, type Actor } from "../audit/log";
import { getConfigState, type OidcConfig } from "../config";
import { getDb } from "../db";
import { groupsFromClaims, RESERVED_USER_NAMES, roleForGroups, userNameFromClaims, type Claims } from "./oidc-claims";
import { isRole } from "./permissions";
import { recordFailure } from "./throttle";
import type { SessionUser } from "./users";

/** The next-auth provider id, so the callback URL to register at the provider is <app>/api/auth/callback/oidc. */
export const OIDC_PROVIDER_ID = "oidc";
/** The client secret comes from the environment only, never from the config file. */
export const OIDC_SECRET_ENV = "SCAP_CHANNELS_OIDC_CLIENT_SECRET";

export interface AuthSettings {
  /** Password sign-in (auth.local). */
  local: boolean;
  /** The identity provider, when configured; `secret` null when the environment lacks it. */
  oidc: { config: OidcConfig; secret: string | null } | null;
}

/** How people sign in under the current config; without a usable config, local accounts only. */
export function authSettings(): AuthSettings {
  const state = getConfigState();
  if (state.status !== "ok") return { local: true, oidc: null };
  const { local, oidc } = state.config.auth;
  return { local, oidc: oidc ? { config: oidc, secret: process.env[OIDC_SECRET_ENV] || null } : null };
}

/**
 * next-auth's generic OAuth provider in its OpenID Connect form: endpoints from discovery, the ID
 * token verified (signature, issuer, audience, expiry), state and PKCE checked. The claims are the
 * ID token's merged with the userinfo answer, since providers put groups in one or the other.
 */
export function oidcProvider(oidc: OidcConfig, secret: string): OAuthConfig<Claims> {
  return {
    id: OIDC_PROVIDER_ID,
    name: oidc.name,
    type: "oauth",
    wellKnown: `${oidc.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`,
    clientId: oidc.clientId,
    clientSecret: secret,
    authorization: { params: { scope: oidc.scopes.join(" ") } },
    idToken: true,
    checks: ["pkce", "state"],
    userinfo: {
      async request({ tokens, client }) {
        // next-auth hands over openid-client's TokenSet (its ID token already verified).
        const set = tokens as TokenSet;
        const claims: Claims = { ...set.claims() };
        // openid-client checks that the userinfo `sub` is the ID token's.
        if (client.issuer.metadata.userinfo_endpoint && set.access_token) Object.assign(claims, await client.userinfo(set));
        return claims;
      },
    },
    profile(claims) {
      return { id: String(claims.sub), name: userNameFromClaims(claims) };
    },
  };
}

export type OidcRefusal = "no-role" | "disabled" | "name-taken";

export interface RequestInfo {
  address: string | null;
  userAgent: string | null;
}

/**
 * Signs in the person the provider vouched for: their role from their groups, now. A first
 * sign-in creates the user (no password); later ones update role, name and last sign-in. Refused:
 * in no mapped group (and no default role), disabled here, or the name belongs to another account
 * (a local account is never taken over by name). Every outcome is audited.
 */
export async function signInWithOidc(claims: Claims, oidc: OidcConfig, request: RequestInfo, now = new Date()): Promise<{ user: SessionUser } | { refused: OidcRefusal }> {
  const sub = typeof claims.sub === "string" || typeof claims.sub === "number" ? String(claims.sub) : "";
  const name = userNameFromClaims(claims);
  const groups = groupsFromClaims(claims, oidc.groupsClaim);
  if (groups === null) console.warn(`[auth] the identity provider sent no "${oidc.groupsClaim}" claim for ${name} (auth.oidc.groupsClaim, auth.oidc.scopes)`);
  const decision = sub ? roleForGroups(groups ?? [], oidc) : null;
  const refuse = async (reason: OidcRefusal) => {
    await recordFailure({ name, address: request.address, userAgent: request.userAgent, reason }, now);
    return { refused: reason } as const;
  };
  if (!decision) return refuse("no-role");
  // Qualified by the issuer: a `sub` is only unique within its provider.
  const subject = `${oidc.issuer} ${sub}`;
  const outcome = await getDb().$transaction(async (tx): Promise<SessionUser | OidcRefusal> => {
    const existing = await tx.user.findUnique({ where: { oidcSubject: subject } });
    if (existing?.disabledAt) return "disabled";
    const nameFree = !RESERVED_USER_NAMES.includes(name) && (existing?.name === name || !(await tx.user.findUnique({ where: { name } })));
    if (!existing && !nameFree) return "name-taken";
    const data = { role: decision.role, lastSignInAt: now };
    const user = existing
      ? await tx.user.update({ where: { id: existing.id }, data: nameFree ? { ...data, name } : data })
      : await tx.user.create({ data: { ...data, name, oidcSubject: subject, passwordHash: null } });
    const actor: Actor = { id: user.id, name: user.name, source: "ui", role: decision.role, ip: request.address, userAgent: request.userAgent };
    const previousRole = existing && existing.role !== decision.role && isRole(existing.role) ? existing.role : undefined;
    await recordAudit(tx, actor, "user.signin", user.name, { method: "oidc", role: decision.role, groups: decision.groups, ...(previousRole ? { previousRole } : {}) });
    return { id: user.id, name: user.name, role: decision.role };
  });
  return typeof outcome === "string" ? refuse(outcome) : { user: outcome };
}
