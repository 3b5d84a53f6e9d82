// What the probe can say about a host's package. Pure: safe for client components.

export const HOST_STATUSES = ["ok", "not-installed", "unreachable", "unknown"] as const;

export type HostStatus = (typeof HOST_STATUSES)[number];

export function isHostStatus(value: unknown): value is HostStatus {
  return typeof value === "string" && (HOST_STATUSES as readonly string[]).includes(value);
}
