import type { TokenInfo } from "./tokens";

/** A token as the JSON API and the admin page show it: never the token, only its listed prefix. */
export function tokenJson(t: TokenInfo) {
  return {
    id: t.id,
    prefix: t.prefix,
    user: t.user,
    name: t.name,
    channels: t.channels,
    permissions: t.permissions,
    createdAt: t.createdAt.toISOString(),
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
    expiresAt: t.expiresAt?.toISOString() ?? null,
    revokedAt: t.revokedAt?.toISOString() ?? null,
  };
}
export type TokenJson = ReturnType<typeof tokenJson>;
