import "server-only";
import { createHash, randomBytes } from "node:crypto";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { authorize } from "./authorize";
import type { Role } from "./permissions";
import type { SessionUser } from "./users";

const TOKEN_PREFIX = "sct_";

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Creates an API token for a user; the token is returned once and only its hash is stored. */
export async function createApiToken(userName: string, tokenName: string, actor: Actor): Promise<{ token: string; prefix: string }> {
  authorize(actor, "admin");
  const db = getDb();
  const user = await db.user.findUnique({ where: { name: userName } });
  if (!user || user.disabledAt) throw new AppError("NOT_FOUND", `no active user named ${userName}`);
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const prefix = token.slice(0, TOKEN_PREFIX.length + 6);
  await db.$transaction(async (tx) => {
    await tx.apiToken.create({ data: { userId: user.id, name: tokenName, tokenHash: hashToken(token), prefix } });
    await recordAudit(tx, actor, "token.create", userName, { tokenName, prefix });
  });
  return { token, prefix };
}

/** The user a bearer token belongs to, or null for an unknown, revoked or expired token. */
export async function userForToken(token: string): Promise<SessionUser | null> {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const db = getDb();
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  const now = new Date();
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt < now) || row.user.disabledAt) return null;
  // lastUsedAt is informational; a minute's precision spares a write per request.
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  return { id: row.user.id, name: row.user.name, role: row.user.role as Role };
}

export interface TokenInfo {
  user: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export async function listApiTokens(userName?: string): Promise<TokenInfo[]> {
  const rows = await getDb().apiToken.findMany({
    where: userName ? { user: { name: userName } } : {},
    include: { user: { select: { name: true } } },
    orderBy: { id: "asc" },
  });
  return rows.map((r) => ({ user: r.user.name, name: r.name, prefix: r.prefix, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt }));
}

/** Revokes the token(s) whose listed prefix this is; the prefix alone cannot authenticate. */
export async function revokeApiToken(prefix: string, actor: Actor): Promise<number> {
  authorize(actor, "admin");
  return getDb().$transaction(async (tx) => {
    const rows = await tx.apiToken.findMany({ where: { prefix, revokedAt: null }, include: { user: { select: { name: true } } } });
    if (rows.length === 0) throw new AppError("NOT_FOUND", `no active token with prefix ${prefix}`);
    for (const row of rows) {
      await tx.apiToken.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
      await recordAudit(tx, actor, "token.revoke", row.user.name, { tokenName: row.name, prefix });
    }
    return rows.length;
  });
}
