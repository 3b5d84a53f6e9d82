import "server-only";
import { getServerSession } from "next-auth";
import { redirect } from "next/navigation";
import type { Actor } from "../audit/log";
import { AppError } from "../errors";
import { clientAddress, forwardedValue, trustedProxies } from "./client-address";
import { authOptions } from "./options";
import { getDb } from "../db";
import { deploymentIdSchema } from "../deploy/input";
import { checkPermission, denialError, denialMessage } from "./authorize";
import type { Permission, TokenScope } from "./permissions";
import { userForSession } from "./sessions";
import { resolveToken, type TokenResolution } from "./tokens";
import type { SessionUser } from "./users";

/**
 * The signed-in user of the session cookie. The cookie names a session row: signed out, expired,
 * or the user disabled, it is null; the role is read from the user row on every request.
 */
export async function sessionUser(): Promise<SessionUser | null> {
  const session = (await getServerSession(authOptions())) as { sid?: unknown } | null;
  if (!session || typeof session.sid !== "string") return null;
  return userForSession(session.sid);
}

/** For pages: the signed-in user, or a redirect to the sign-in page. */
export async function requirePageUser(): Promise<SessionUser> {
  const user = await sessionUser();
  if (!user) redirect("/signin");
  return user;
}

/**
 * The origin this app is reached at: NEXTAUTH_URL when set, else the request's own scheme and host
 * (X-Forwarded-Proto/-Host only when written by a trusted proxy). Null when it cannot be told.
 */
function expectedOrigin(request: Request, proxies: number, publicUrl: string | undefined): string | null {
  try {
    if (publicUrl) return new URL(publicUrl).origin;
    const host = forwardedValue(request.headers, "x-forwarded-host", proxies) ?? request.headers.get("host");
    const proto = forwardedValue(request.headers, "x-forwarded-proto", proxies) ?? new URL(request.url).protocol.slice(0, -1);
    if (!host || (proto !== "http" && proto !== "https")) return null;
    return new URL(`${proto}://${host}`).origin;
  } catch {
    return null;
  }
}

/** A browser's mutation must say where it comes from (Origin, or Sec-Fetch-Site), and that must be here, scheme included. */
export function isSameOrigin(request: Request, proxies: number = trustedProxies(), publicUrl: string | undefined = process.env.NEXTAUTH_URL || undefined): boolean {
  const origin = request.headers.get("origin");
  if (origin) {
    const expected = expectedOrigin(request, proxies, publicUrl);
    try {
      return expected !== null && new URL(origin).origin === expected;
    } catch {
      return false; // "null" or garbage
    }
  }
  return request.headers.get("sec-fetch-site") === "same-origin";
}

/** Who is calling: the API token's user, the session's user, or null. A bad token is an error, never "anonymous". */
export async function apiCaller(request: Request): Promise<{ user: SessionUser; source: Actor["source"]; scope: TokenScope | null } | null> {
  const auth = request.headers.get("authorization");
  if (auth) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    const resolved: TokenResolution = match ? await resolveToken(match[1]!) : { ok: false, state: "unknown" };
    if (!resolved.ok) {
      if (resolved.user) {
        // Known to be this user's token, if no longer valid: refusals are counted against its owner.
        noteCaller(request, { id: resolved.user.id, name: resolved.user.name, source: "api", role: "viewer", ip: clientAddress(request.headers), userAgent: userAgentOf(request) }, "claimed");
      }
      throw new AppError("UNAUTHORIZED", "The API token is unknown, revoked or expired.", {
        refusal: `token-${resolved.state}`.replace("token-user-disabled", "user-disabled"),
        ...(resolved.prefix ? { token: { prefix: resolved.prefix, state: resolved.state } } : {}),
      });
    }
    return { user: resolved.user, source: "api", scope: resolved.scope };
  }
  const user = await sessionUser();
  return user ? { user, source: "ui", scope: null } : null;
}

function userAgentOf(request: Request): string | null {
  return request.headers.get("user-agent")?.slice(0, 300) ?? null;
}

/** The actor for a request's audit events: the user, how they came, the client's address and user agent, and a token's limits. */
export function requestActor(request: Request, user: SessionUser, source: Actor["source"], scope: TokenScope | null = null): Actor {
  return {
    id: user.id,
    name: user.name,
    source,
    role: user.role,
    ip: clientAddress(request.headers),
    userAgent: userAgentOf(request),
    ...(scope ? { scope } : {}),
  };
}

/**
 * Who a request came from, as far as the guard found out: "authenticated" once it checked the
 * credentials, "claimed" for the owner of a revoked or expired token. Read by lib/auth/refusals.ts
 * to say who was refused.
 */
const callers = new WeakMap<Request, { actor: Actor; standing: "authenticated" | "claimed" }>();

function noteCaller(request: Request, actor: Actor, standing: "authenticated" | "claimed") {
  callers.set(request, { actor, standing });
}

export function callerOf(request: Request): { actor: Actor; standing: "authenticated" | "claimed" } | undefined {
  return callers.get(request);
}

/** The channel a request acts on: a name, or a lookup (null: no such target, the domain refuses it). */
export type ChannelOf = string | (() => Promise<string | null>);

/** The channel of deployment `rawId` for the guard of its routes; null when the id is not a deployment's. */
export async function channelOfDeployment(rawId: string | Promise<{ id: string }>): Promise<string | null> {
  const raw = typeof rawId === "string" ? rawId : (await rawId).id;
  const id = deploymentIdSchema.safeParse(raw);
  if (!id.success) return null;
  const d = await getDb().deployment.findUnique({ where: { id: id.data }, select: { channel: { select: { name: true } } } });
  return d?.channel.name ?? null;
}

function isMutation(request: Request): boolean {
  return request.method !== "GET" && request.method !== "HEAD";
}

/**
 * Authenticates an API request by bearer token or session cookie and checks one permission: the
 * user's current role and, for a token, its permission and channel lists (`channel`: the channel
 * the request acts on). Cookie-authenticated mutations must come from this origin (the session
 * cookie is SameSite=Lax, this is the second line).
 */
export async function requireApiPermission(request: Request, permission: Permission, opts: { channel?: ChannelOf } = {}): Promise<{ user: SessionUser; actor: Actor }> {
  const caller = await apiCaller(request);
  if (!caller) throw new AppError("UNAUTHORIZED", "Sign in or send an API token (Authorization: Bearer ...).", { refusal: "no-credentials" });
  const { user, source, scope } = caller;
  const actor = requestActor(request, user, source, scope);
  noteCaller(request, actor, "authenticated");
  if (source === "ui" && isMutation(request) && !isSameOrigin(request)) {
    throw new AppError("FORBIDDEN", "Cross-origin request refused: a signed-in browser may only change things from this site.", { refusal: "cross-origin" });
  }
  // The channel acted on; null: none to check (no such target: the domain answers 404, and checks
  // the channel of any target it finds). A lookup runs only for a token limited to channels.
  const named = opts.channel === undefined ? undefined : typeof opts.channel === "string" ? opts.channel : scope?.channels ? await opts.channel() : null;
  const denial = named === null ? checkPermission({ role: user.role, scope: scope && { ...scope, channels: null } }, permission) : checkPermission(actor, permission, named);
  if (denial) throw denialError(denial, denialMessage(denial, { role: user.role, scope }));
  return { user, actor };
}
