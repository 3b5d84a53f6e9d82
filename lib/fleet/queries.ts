import "server-only";
import { compareVersions } from "../apt/version";
import { getDb, type Db, type Tx } from "../db";
import { hostDrift, isKnownState, readFleetSnapshot } from "../deploy/channels";
import type { DistributionEntry, HostStatus, HostView } from "../views";
import { syncInventoryWithCurrentConfig } from "./inventory";
import { mostCommonVersion } from "./majority";

/** A host as listHosts returns it: HostView with a Date (lib/dashboard.ts serializes it). */
export interface HostRow extends Omit<HostView, "observedAt"> {
  observedAt: Date | null;
}

/**
 * Hosts in inventory with their newest observation, channels and drift. Reads the database only
 * (after syncing the inventory when the config file changed, unless given a transaction).
 */
export async function listHosts(db?: Db | Tx): Promise<HostRow[]> {
  if (!db) await syncInventoryWithCurrentConfig();
  const snapshot = await readFleetSnapshot(db ?? getDb());
  const channelName = new Map(snapshot.channels.map((c) => [c.id, c.name]));

  // Among hosts with a known state; null (not installed) counts as a state of its own.
  const majority = mostCommonVersion(snapshot.hosts.flatMap((h) => (isKnownState(h.observation) ? [h.observation.version] : [])));

  return snapshot.hosts.map((h) => {
    const o = h.observation;
    return {
      name: h.name,
      address: h.address,
      port: h.port,
      channels: h.channelIds.map((id) => channelName.get(id)!),
      version: o?.version ?? null,
      status: o?.status ?? "unknown",
      errorKind: o?.errorKind ?? null,
      error: o?.error ?? null,
      observedAt: o?.observedAt ?? null,
      drift: hostDrift(snapshot, h),
      offMajority: isKnownState(o) && majority !== undefined && o.version !== majority,
    };
  });
}

const STATUS_ORDER: Record<HostStatus, number> = { ok: 0, "not-installed": 1, unreachable: 2, unknown: 3 };

/** How many hosts run each version (and how many are not installed, unreachable or unknown), newest first. */
export async function versionDistribution(db?: Db | Tx): Promise<DistributionEntry[]> {
  return distributionOf(await listHosts(db));
}

/** The distribution of hosts already read (listHosts), without reading the fleet again. */
export function distributionOf(hosts: readonly Pick<HostRow, "status" | "version">[]): DistributionEntry[] {
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
