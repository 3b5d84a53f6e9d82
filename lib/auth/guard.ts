import "server-only";
import { getServerSession } from "next-auth";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import type { Actor } from "../audit/log";
import { AppError } from "../errors";
import { authOptions } from "./options";
import { can, type Permission } from "./permissions";
import { userForToken } from "./tokens";
import { findActiveUser, type SessionUser } from "./users";

/** The signed-in user of the session cookie, re-read from the DB so a disabled user or changed role takes effect. */
export async function sessionUser(): Promise<SessionUser | null> {
  const session = (await getServerSession(authOptions())) as { uid?: number } | null;
  if (!session || typeof session.uid !== "number") return null;
  return findActiveUser(session.uid);
}

/** For pages: the signed-in user, or a redirect to the sign-in page. */
export async function requirePageUser(): Promise<SessionUser> {
  const user = await sessionUser();
  if (!user) redirect("/signin");
  return user;
}

/** A browser's mutation must say where it comes from (Origin, or Sec-Fetch-Site), and that must be here. */
export function isSameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin) {
    const host = request.headers.get("x-forwarded-host") ?? request.headers.get("host");
    try {
      return host !== null && new URL(origin).host === host;
    } catch {
      return false; // "null" or garbage
    }
  }
  return request.headers.get("sec-fetch-site") === "same-origin";
}

function clientIp(h: Headers): string | null {
  return h.get("x-forwarded-for")?.split(",")[0]?.trim() || h.get("x-real-ip") || null;
}

/**
 * Authenticates an API request by bearer token or session cookie and checks one permission.
 * Cookie-authenticated mutations must come from this origin (the session cookie is SameSite=Lax,
 * this is the second line).
 */
export async function requireApiPermission(request: Request, permission: Permission): Promise<{ user: SessionUser; actor: Actor }> {
  const h = await headers();
  const auth = request.headers.get("authorization");
  let user: SessionUser | null;
  let source: Actor["source"];
  if (auth) {
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    user = match ? await userForToken(match[1]!) : null;
    if (!user) throw new AppError("UNAUTHORIZED", "The API token is unknown, revoked or expired.");
    source = "api";
  } else {
    user = await sessionUser();
    if (!user) throw new AppError("UNAUTHORIZED", "Sign in or send an API token (Authorization: Bearer ...).");
    source = "ui";
    if (request.method !== "GET" && request.method !== "HEAD" && !isSameOrigin(request)) {
      throw new AppError("FORBIDDEN", "Cross-origin request refused: a signed-in browser may only change things from this site.");
    }
  }
  if (!can(user.role, permission)) {
    throw new AppError("FORBIDDEN", `Your role (${user.role}) lacks the ${permission} permission.`);
  }
  return {
    user,
    actor: { id: user.id, name: user.name, source, role: user.role, ip: clientIp(h), userAgent: h.get("user-agent")?.slice(0, 300) ?? null },
  };
}
