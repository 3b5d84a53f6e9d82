import "server-only";
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { authorize } from "./authorize";
import { can, isPermission, isRole, PERMISSIONS, type Permission, type Role, type TokenScope } from "./permissions";
import type { SessionUser } from "./users";

const TOKEN_PREFIX = "sct_";
/** The longest life a token may be given. */
const MAX_EXPIRY_DAYS = 3650;
const CHANNEL_NAME = /^[a-z][a-z0-9-]{0,39}$/;

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** What a new token may do, within its user's role; null lists mean no limit of that kind. */
export interface TokenLimits {
  channels?: readonly string[] | null;
  permissions?: readonly string[] | null;
  expiresAt?: Date | null;
}

/** "30d", "12h", "90m" or "45s" from now; an ISO date-time as it is. Throws BAD_REQUEST otherwise. */
export function parseExpiry(text: string, now = new Date()): Date {
  const m = /^(\d{1,7})([smhd])$/.exec(text.trim());
  const at = m
    ? new Date(now.getTime() + Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"])
    : /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:\d\d)?)?$/.test(text.trim())
      ? new Date(text.trim())
      : null;
  if (!at || Number.isNaN(at.getTime())) throw new AppError("BAD_REQUEST", `expiry "${text.slice(0, 40)}" is neither a duration (30d, 12h, 90m, 45s) nor an ISO date`);
  if (at <= now) throw new AppError("BAD_REQUEST", "the expiry must be in the future");
  if (at.getTime() - now.getTime() > MAX_EXPIRY_DAYS * 86_400_000) throw new AppError("BAD_REQUEST", `a token lives at most ${MAX_EXPIRY_DAYS} days`);
  return at;
}

/** "a,b" → ["a", "b"]; empty items dropped. */
export function splitList(text: string | undefined): string[] | null {
  if (text === undefined) return null;
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

async function checkLimits(limits: TokenLimits, role: Role): Promise<{ channels: string[] | null; permissions: Permission[] | null }> {
  let permissions: Permission[] | null = null;
  if (limits.permissions) {
    const unknown = limits.permissions.filter((p) => !isPermission(p));
    if (unknown.length) throw new AppError("BAD_REQUEST", `unknown permission ${unknown[0]!.slice(0, 40)}; the permissions are ${PERMISSIONS.join(", ")}`);
    permissions = [...new Set(limits.permissions as Permission[])];
    if (permissions.length === 0) throw new AppError("BAD_REQUEST", "a token limited to no permission could do nothing; leave the list out for the user's role");
    const beyond = permissions.filter((p) => !can(role, p));
    if (beyond.length) throw new AppError("BAD_REQUEST", `the user's role (${role}) lacks ${beyond.join(", ")}; a token carries at most its user's role`);
  }
  let channels: string[] | null = null;
  if (limits.channels) {
    channels = [...new Set(limits.channels)];
    if (channels.length === 0) throw new AppError("BAD_REQUEST", "a token limited to no channel could change none; leave the list out for every channel");
    const bad = channels.find((c) => !CHANNEL_NAME.test(c));
    if (bad !== undefined) throw new AppError("BAD_REQUEST", `"${bad.slice(0, 40)}" is not a channel name`);
    const known = (await getDb().channel.findMany({ where: { inConfig: true }, select: { name: true } })).map((c) => c.name);
    const unknown = known.length ? channels.filter((c) => !known.includes(c)) : [];
    if (unknown.length) throw new AppError("BAD_REQUEST", `no channel named ${unknown.join(", ")} is configured; the channels are ${known.join(", ")}`);
    if (permissions?.includes("admin")) throw new AppError("BAD_REQUEST", "a token limited to channels cannot carry the admin permission");
  }
  return { channels, permissions };
}

export interface CreatedToken {
  token: string;
  prefix: string;
  id: number;
}

/**
 * Creates an API token for a user, optionally limited to channels and permissions (within the
 * user's role) and with an expiry; the token is returned once and only its hash is stored.
 */
export async function createApiToken(userName: string, tokenName: string, actor: Actor, limits: TokenLimits = {}): Promise<CreatedToken> {
  authorize(actor, "admin");
  const name = z.string().trim().min(1).max(60).safeParse(tokenName);
  if (!name.success) throw new AppError("BAD_REQUEST", "a token name (label) is 1-60 characters");
  const db = getDb();
  const user = await db.user.findUnique({ where: { name: userName } });
  if (!user || user.disabledAt || !isRole(user.role)) throw new AppError("NOT_FOUND", `no active user named ${userName.slice(0, 40)}`);
  const { channels, permissions } = await checkLimits(limits, user.role);
  const expiresAt = limits.expiresAt ?? null;
  if (expiresAt && expiresAt <= new Date()) throw new AppError("BAD_REQUEST", "the expiry must be in the future");
  const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const prefix = token.slice(0, TOKEN_PREFIX.length + 6);
  const id = await db.$transaction(async (tx) => {
    const row = await tx.apiToken.create({
      data: {
        userId: user.id,
        name: name.data,
        tokenHash: hashToken(token),
        prefix,
        expiresAt,
        channels: channels && JSON.stringify(channels),
        permissions: permissions && JSON.stringify(permissions),
      },
    });
    await recordAudit(tx, actor, "token.create", userName, { tokenName: name.data, prefix, channels, permissions, expiresAt: expiresAt?.toISOString() ?? null });
    return row.id;
  });
  return { token, prefix, id };
}

function parseList(json: string | null): string[] | null {
  if (json === null) return null;
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** A bearer token resolved: its user (with the role the user has now) and limits, or why it is refused. */
export type TokenResolution =
  | { ok: true; user: SessionUser; scope: TokenScope }
  | { ok: false; state: "unknown" | "revoked" | "expired" | "user-disabled"; prefix?: string; user?: { id: number; name: string } };

export async function resolveToken(token: string, now = new Date()): Promise<TokenResolution> {
  if (!token.startsWith(TOKEN_PREFIX)) return { ok: false, state: "unknown" };
  const db = getDb();
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row) return { ok: false, state: "unknown" };
  const owner = { id: row.user.id, name: row.user.name };
  if (row.revokedAt) return { ok: false, state: "revoked", prefix: row.prefix, user: owner };
  if (row.expiresAt && row.expiresAt <= now) return { ok: false, state: "expired", prefix: row.prefix, user: owner };
  if (row.user.disabledAt || !isRole(row.user.role)) return { ok: false, state: "user-disabled", prefix: row.prefix, user: owner };
  // lastUsedAt is informational; a minute's precision spares a write per request.
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  const permissions = parseList(row.permissions);
  return {
    ok: true,
    user: { id: row.user.id, name: row.user.name, role: row.user.role },
    scope: { prefix: row.prefix, channels: parseList(row.channels), permissions: permissions && permissions.filter(isPermission) },
  };
}

/** The user a bearer token belongs to, or null for an unknown, revoked or expired token. */
export async function userForToken(token: string): Promise<SessionUser | null> {
  const r = await resolveToken(token);
  return r.ok ? r.user : null;
}

export interface TokenInfo {
  id: number;
  user: string;
  name: string;
  prefix: string;
  channels: string[] | null;
  permissions: string[] | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export async function listApiTokens(userName?: string, id?: number): Promise<TokenInfo[]> {
  const rows = await getDb().apiToken.findMany({
    where: { ...(userName ? { user: { name: userName } } : {}), ...(id !== undefined ? { id } : {}) },
    include: { user: { select: { name: true } } },
    orderBy: { id: "asc" },
  });
  return rows.map((r) => ({
    id: r.id,
    user: r.user.name,
    name: r.name,
    prefix: r.prefix,
    channels: parseList(r.channels),
    permissions: parseList(r.permissions),
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
  }));
}

/** Revokes the token(s) whose listed prefix this is; the prefix alone cannot authenticate. */
export async function revokeApiToken(prefix: string, actor: Actor): Promise<number> {
  authorize(actor, "admin");
  return getDb().$transaction(async (tx) => {
    const rows = await tx.apiToken.findMany({ where: { prefix, revokedAt: null }, include: { user: { select: { name: true } } } });
    if (rows.length === 0) throw new AppError("NOT_FOUND", `no active token with prefix ${prefix.slice(0, 40)}`);
    for (const row of rows) {
      await tx.apiToken.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
      await recordAudit(tx, actor, "token.revoke", row.user.name, { tokenName: row.name, prefix });
    }
    return rows.length;
  });
}

/** Revokes one token by its id (the admin page's button); 409 when it is already revoked. */
export async function revokeApiTokenById(id: number, actor: Actor): Promise<TokenInfo> {
  authorize(actor, "admin");
  await getDb().$transaction(async (tx) => {
    const row = await tx.apiToken.findUnique({ where: { id }, include: { user: { select: { name: true } } } });
    if (!row) throw new AppError("NOT_FOUND", `No API token ${id}.`);
    if (row.revokedAt) throw new AppError("CONFLICT", `Token ${row.prefix}… was already revoked.`);
    await tx.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
    await recordAudit(tx, actor, "token.revoke", row.user.name, { tokenName: row.name, prefix: row.prefix });
  });
  return (await listApiTokens(undefined, id))[0]!;
}
