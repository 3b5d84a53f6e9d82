import { AppError } from "../errors";
import type { Actor } from "../audit/log";
import { can, CHANNEL_PERMISSIONS, type Permission, type Role, type TokenScope } from "./permissions";

/** Why a permission is refused: the role, or one of an API token's limits. */
export type DenialReason = "role" | "token-permission" | "token-admin" | "token-channel" | "token-no-channel";

export interface Denial {
  reason: DenialReason;
  permission: Permission;
  channel?: string;
}

/**
 * The one check of who may do what: the role (read now, at each use) must hold the permission, and
 * an API token's limits must allow it: its permission list, and its channel list for the channel
 * acted on. A token limited to channels never has `admin` (that would let it mint a wider token),
 * and may change a channel only when the channel is named. Null when allowed.
 */
export function checkPermission(who: { role: Role | null | undefined; scope?: TokenScope | null }, permission: Permission, channel?: string): Denial | null {
  if (!can(who.role, permission)) return { reason: "role", permission };
  const scope = who.scope;
  if (!scope) return null;
  if (scope.permissions && !scope.permissions.includes(permission)) return { reason: "token-permission", permission };
  if (scope.channels) {
    if (permission === "admin") return { reason: "token-admin", permission };
    if (channel !== undefined && !scope.channels.includes(channel)) return { reason: "token-channel", permission, channel };
    if (channel === undefined && (CHANNEL_PERMISSIONS as readonly Permission[]).includes(permission)) return { reason: "token-no-channel", permission };
  }
  return null;
}

/** The refusal as a person reads it; `subject` is "Your role" in answers, the actor's name in the domain. */
export function denialMessage(d: Denial, who: { name?: string; role: Role | null | undefined; scope?: TokenScope | null }): string {
  const scope = who.scope;
  switch (d.reason) {
    case "role":
      return who.name ? `${who.name} (${who.role ?? "no role"}) lacks the ${d.permission} permission.` : `Your role (${who.role ?? "none"}) lacks the ${d.permission} permission.`;
    case "token-permission":
      return `This API token (${scope?.prefix}…) is limited to ${scope?.permissions?.join(", ") || "no permissions"}; it lacks ${d.permission}.`;
    case "token-admin":
      return `This API token (${scope?.prefix}…) is limited to channels and so cannot use the admin permission.`;
    case "token-channel":
      return `This API token (${scope?.prefix}…) is limited to the channel${scope?.channels?.length === 1 ? "" : "s"} ${scope?.channels?.join(", ")}; ${d.channel} is not one of them.`;
    case "token-no-channel":
      return `This API token (${scope?.prefix}…) is limited to channels, and ${d.permission} was asked for without naming one.`;
  }
}

export function denialError(d: Denial, message: string): AppError {
  return new AppError("FORBIDDEN", message, { refusal: d.reason, permission: d.permission, ...(d.channel !== undefined ? { channel: d.channel } : {}) });
}

/**
 * The check every mutating domain function makes itself, whatever route called it: the actor's
 * role, and its API token's permission and channel lists, must allow the permission on `channel`
 * (pass the channel whenever the action has one). Throws FORBIDDEN otherwise.
 */
export function authorize(actor: Actor, permission: Permission, channel?: string): void {
  const denial = checkPermission(actor, permission, channel);
  if (denial) throw denialError(denial, denialMessage(denial, actor));
}
