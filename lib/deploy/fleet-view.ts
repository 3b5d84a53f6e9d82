import "server-only";
import { getDb, type Db, type Tx } from "../db";
import { mostCommonVersion } from "../fleet/majority";
import { latestObservations, type LatestObservation } from "../fleet/observations";
import type { HostStatus } from "../fleet/status";
import { hostDrift, isKnownState, readFleetSnapshot } from "./channels";
import { distributionOf, type DistributionEntry } from "../fleet/distribution";

export { distributionOf, type DistributionEntry };

// The fleet as pages and the API show it: each host with its newest observation and its drift
// from its channel (drift needs the channels' deployments, hence here rather than in lib/fleet).

/** A host as listHosts returns it (lib/present.ts serializes the dates). */
export interface HostRow {
  name: string;
  address: string;
  port: number;
  channels: string[];
  version: string | null;
  status: HostStatus;
  errorKind: string | null;
  error: string | null;
  observedAt: Date | null;
  /** The host's channel expects another version. */
  drift: { channel: string; expected: string } | null;
  /** The host runs something other than what most hosts run. */
  offMajority: boolean;
  /** The newest observation that saw the package state: what an unreachable or unknown host last ran. */
  lastKnown: LastKnown | null;
}

export interface LastKnown {
  version: string | null;
  status: "ok" | "not-installed";
  observedAt: Date;
}

function lastKnownOf(o: LatestObservation | undefined): LastKnown | null {
  if (!o || (o.status !== "ok" && o.status !== "not-installed")) return null;
  return { version: o.version, status: o.status, observedAt: o.observedAt };
}


/**
 * Hosts in inventory with their newest observation, their newest observation of a known package
 * state, channels and drift. Reads the database only: the inventory follows the config on its own
 * (lib/fleet/inventory.ts, keepInventoryInSync).
 */
export async function listHosts(db: Db | Tx = getDb()): Promise<HostRow[]> {
  const snapshot = await readFleetSnapshot(db);
  // A host whose newest observation saw the package state is its own last known state: only the
  // others (unreachable, unknown) need a look further back.
  const unknownIds = snapshot.hosts.filter((h) => h.observation && !isKnownState(h.observation)).map((h) => h.id);
  const known = unknownIds.length ? await latestObservations(db, { hostIds: unknownIds, knownOnly: true }) : new Map<number, LatestObservation>();
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
      lastKnown: lastKnownOf(isKnownState(o) ? o : known.get(h.id)),
    };
  });
}


/** How many hosts run each version (and how many are not installed, unreachable or unknown), newest first. */
export async function versionDistribution(db?: Db | Tx): Promise<DistributionEntry[]> {
  return distributionOf(await listHosts(db));
}

