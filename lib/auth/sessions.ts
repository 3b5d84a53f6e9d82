import "server-only";
import { createHash, randomBytes } from "node:crypto";
import { getConfigState, DEFAULT_SESSION_LIMITS } from "../config";
import { getDb, type Tx } from "../db";
import { isRole } from "./permissions";
import type { SessionUser } from "./users";

// Browser sessions live in the database; the session cookie (next-auth's JWT) only names one.
// Deleting the row ends the session at the next request, wherever the cookie was copied to.

export interface SessionLimits {
  /** A session not used for this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  maxMs: number;
}

/** The limits of `auth.session` in the current config (the defaults without a usable one). */
export function sessionLimits(): SessionLimits {
  const state = getConfigState();
  const s = state.status === "ok" ? state.config.auth.session : DEFAULT_SESSION_LIMITS;
  return { idleMs: s.idleMinutes * 60_000, maxMs: s.maxHours * 3_600_000 };
}

// Only a hash is stored: the database alone cannot be turned into working session ids.
function hashId(sid: string): string {
  return createHash("sha256").update(sid).digest("hex");
}

/** Starts a session for a user who just signed in; returns the id to put in the cookie. */
export async function createSession(userId: number, now = new Date(), limits = sessionLimits()): Promise<string> {
  const sid = randomBytes(32).toString("base64url");
  const db = getDb();
  await db.$transaction([
    db.session.deleteMany({ where: { expiresAt: { lte: now } } }),
    db.session.create({ data: { id: hashId(sid), userId, createdAt: now, lastSeenAt: now, expiresAt: new Date(now.getTime() + limits.maxMs) } }),
  ]);
  return sid;
}

/**
 * The user of a live session with the role it has now, or null (signed out, past the absolute or
 * the idle limit, user disabled). Limits are today's config: lowering them ends older sessions too.
 */
export async function userForSession(sid: string, now = new Date(), limits = sessionLimits()): Promise<SessionUser | null> {
  const db = getDb();
  const row = await db.session.findUnique({ where: { id: hashId(sid) }, include: { user: true } });
  if (!row) return null;
  const t = now.getTime();
  const expired = row.expiresAt.getTime() <= t || row.createdAt.getTime() + limits.maxMs <= t || row.lastSeenAt.getTime() + limits.idleMs <= t;
  if (expired) {
    await db.session.deleteMany({ where: { id: row.id } });
    return null;
  }
  if (row.user.disabledAt || !isRole(row.user.role)) return null;
  // Written at most once a minute (sooner under a tiny idle limit), not on every request.
  if (t - row.lastSeenAt.getTime() >= Math.min(60_000, limits.idleMs / 10)) {
    await db.session.updateMany({ where: { id: row.id }, data: { lastSeenAt: now } });
  }
  return { id: row.user.id, name: row.user.name, role: row.user.role };
}

/** Sign-out: this session only. */
export async function endSession(sid: string): Promise<void> {
  await getDb().session.deleteMany({ where: { id: hashId(sid) } });
}

/** Every session of a user, inside the caller's transaction (disable, password reset). */
export async function endUserSessions(tx: Tx, userId: number): Promise<number> {
  const { count } = await tx.session.deleteMany({ where: { userId } });
  return count;
}
