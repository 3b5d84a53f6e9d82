// How many hosts run each version: pure, for the server's views and the live /hosts page alike.
import { compareVersions } from "../apt/version";
import type { HostStatus } from "./status";

export interface DistributionEntry {
  version: string | null;
  status: HostStatus;
  hosts: number;
}

const STATUS_ORDER: Record<HostStatus, number> = { ok: 0, "not-installed": 1, unreachable: 2, unknown: 3 };

/** How many hosts run each version (and how many are not installed, unreachable or unknown), newest first. */
export function distributionOf(hosts: readonly { status: HostStatus; version: string | null }[]): DistributionEntry[] {
  const groups = new Map<string, DistributionEntry>();
  for (const h of hosts) {
    const status = h.status;
    const version = status === "ok" ? h.version : null;
    const key = `${status}\u0000${version ?? ""}`;
    const entry = groups.get(key) ?? { version, status, hosts: 0 };
    entry.hosts++;
    groups.set(key, entry);
  }
  return [...groups.values()].sort((a, b) => {
    if (a.status !== b.status) return STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
    if (a.version !== null && b.version !== null) return compareVersions(b.version, a.version);
    return 0;
  });
}
