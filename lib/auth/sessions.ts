import "server-only";
import { createHash, randomBytes } from "node:crypto";
import { getDb, type Tx } from "../db";
import { isRole } from "./permissions";
import type { SessionUser } from "./users";

// Browser sessions live in the database; the session cookie (next-auth's JWT) only names one.
// Deleting the row ends the session at the next request, wherever the cookie was copied to.

/** A session lasts this long from sign-in, whatever the cookie says. */
export const SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

// Only a hash is stored: the database alone cannot be turned into working session ids.
function hashId(sid: string): string {
  return createHash("sha256").update(sid).digest("hex");
}

/** Starts a session for a user who just signed in; returns the id to put in the cookie. */
export async function createSession(userId: number, now = new Date()): Promise<string> {
  const sid = randomBytes(32).toString("base64url");
  const db = getDb();
  await db.$transaction([
    db.session.deleteMany({ where: { expiresAt: { lte: now } } }),
    db.session.create({ data: { id: hashId(sid), userId, createdAt: now, expiresAt: new Date(now.getTime() + SESSION_MAX_AGE_SECONDS * 1000) } }),
  ]);
  return sid;
}

/** The user of a live session with the role it has now, or null (signed out, expired, user disabled). */
export async function userForSession(sid: string, now = new Date()): Promise<SessionUser | null> {
  const row = await getDb().session.findUnique({ where: { id: hashId(sid) }, include: { user: true } });
  if (!row || row.expiresAt <= now || row.user.disabledAt || !isRole(row.user.role)) return null;
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
