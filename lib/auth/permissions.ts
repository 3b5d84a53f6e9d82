// One table of what each role may do. The server guards and the UI (to grey out a control and
// say why) both read it. Pure: safe to import from client components.

export const ROLES = ["viewer", "deployer", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  "builds.read",
  "builds.refresh",
  "hosts.read",
  "hosts.refresh",
  "channels.read",
  "channels.promote",
  "channels.rollback",
  "deployments.read",
  "deployments.cancel",
  "audit.read",
  "admin",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const VIEWER = ["builds.read", "hosts.read", "channels.read", "deployments.read", "audit.read"] as const satisfies readonly Permission[];
const DEPLOYER = [
  ...VIEWER,
  "builds.refresh",
  "hosts.refresh",
  "channels.promote",
  "channels.rollback",
  "deployments.cancel",
] as const satisfies readonly Permission[];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: VIEWER,
  deployer: DEPLOYER,
  admin: PERMISSIONS,
};

/**
 * What an API token is limited to, within its user's current role: a list of permissions and a
 * list of channels (null: no limit of that kind). Sessions, the CLI and the system have none.
 */
export interface TokenScope {
  /** The token's listed prefix, to name it in refusals. */
  prefix: string;
  permissions: readonly Permission[] | null;
  channels: readonly string[] | null;
}

/**
 * Permissions that change one channel: a token limited to channels may use them only with a
 * channel named and listed. (Any permission checked with a channel is checked against the list.)
 */
export const CHANNEL_PERMISSIONS = ["channels.promote", "channels.rollback", "deployments.cancel"] as const satisfies readonly Permission[];

export function isPermission(value: unknown): value is Permission {
  return typeof value === "string" && (PERMISSIONS as readonly string[]).includes(value);
}

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function can(role: Role | null | undefined, permission: Permission): boolean {
  return role != null && ROLE_PERMISSIONS[role].includes(permission);
}

/** Why a control is unavailable, for its title/tooltip; null when allowed. */
export function deniedReason(role: Role | null | undefined, permission: Permission): string | null {
  if (can(role, permission)) return null;
  if (role == null) return "Sign in to do this.";
  return `Your role (${role}) lacks the ${permission} permission.`;
}
