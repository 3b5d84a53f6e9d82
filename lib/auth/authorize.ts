import { AppError } from "../errors";
import type { Actor } from "../audit/log";
import { can, type Permission } from "./permissions";

/**
 * The check every mutating domain function makes itself, whatever route called it: the actor's
 * role must hold the permission. Throws FORBIDDEN otherwise.
 */
export function authorize(actor: Actor, permission: Permission): void {
  if (!can(actor.role, permission)) {
    throw new AppError("FORBIDDEN", `${actor.name} (${actor.role ?? "no role"}) lacks the ${permission} permission.`);
  }
}
