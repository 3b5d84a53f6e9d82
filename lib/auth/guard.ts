import "server-only";
import { getServerSession } from "next-auth";
import { redirect } from "next/navigation";
import type { Actor } from "../audit/log";
import { AppError } from "../errors";
import { clientAddress, forwardedValue, trustedProxies } from "./client-address";
import { authOptions } from "./options";
import { can, type Permission } from "./permissions";
import { userForSession } from "./sessions";
import { userForToken } from "./tokens";
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
export async function apiCaller(request: Request): Promise<{ user: SessionUser; source: Actor["source"] } | null> {
  const auth = request.headers.get("authorization");
  if (auth) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    const user = match ? await userForToken(match[1]!) : null;
    if (!user) throw new AppError("UNAUTHORIZED", "The API token is unknown, revoked or expired.");
    return { user, source: "api" };
  }
  const user = await sessionUser();
  return user ? { user, source: "ui" } : null;
}

/** The actor for a request's audit events: the user, how they came, and the client's address and user agent. */
export function requestActor(request: Request, user: SessionUser, source: Actor["source"]): Actor {
  return {
    id: user.id,
    name: user.name,
    source,
    role: user.role,
    ip: clientAddress(request.headers),
    userAgent: request.headers.get("user-agent")?.slice(0, 300) ?? null,
  };
}

/**
 * Authenticates an API request by bearer token or session cookie and checks one permission.
 * Cookie-authenticated mutations must come from this origin (the session cookie is SameSite=Lax,
 * this is the second line).
 */
export async function requireApiPermission(request: Request, permission: Permission): Promise<{ user: SessionUser; actor: Actor }> {
  const caller = await apiCaller(request);
  if (!caller) throw new AppError("UNAUTHORIZED", "Sign in or send an API token (Authorization: Bearer ...).");
  const { user, source } = caller;
  if (source === "ui" && request.method !== "GET" && request.method !== "HEAD" && !isSameOrigin(request)) {
    throw new AppError("FORBIDDEN", "Cross-origin request refused: a signed-in browser may only change things from this site.");
  }
  if (!can(user.role, permission)) {
    throw new AppError("FORBIDDEN", `Your role (${user.role}) lacks the ${permission} permission.`);
  }
  return { user, actor: requestActor(request, user, source) };
}
