import "server-only";
import { getDb, type Db, type Tx } from "../db";
import { mostCommonVersion } from "../fleet/majority";
import { inventoryHosts, type LatestObservation } from "../fleet/observations";

// What version each channel is meant to run, and who strays from it. Pages, the API and the
// promotion runner all read it from here.

export interface ChannelState {
  id: number;
  name: string;
  /** Member host names, in inventory order. */
  hosts: string[];
  requires: string | null;
  batchSize: number;
  maxFailures: number;
  currentVersion: string | null;
  /** Where currentVersion comes from: the last succeeded deployment, or what most members run. */
  currentSource: "deployment" | "observed" | null;
  previousVersion: string | null;
  /** Members whose known version is not the channel's. */
  drift: number;
  /** Hosts of the channel whose state is not known right now (unreachable, unknown, never probed). */
  unverified: number;
  /** When a deployment set currentVersion: its end (ISO 8601). */
  currentSince: string | null;
}

export interface FleetHost {
  id: number;
  name: string;
  address: string;
  port: number;
  /** Channel ids, by channel position. */
  channelIds: number[];
  observation: LatestObservation | null;
}

export interface FleetSnapshot {
  hosts: FleetHost[];
  channels: ChannelState[];
}

const DEPLOYMENT_KINDS = ["promote", "rollback"];

// One collator for every comparison: localeCompare with options builds a new one per call (about
// 50 ms to sort 1,000 host names).
const byHostName = new Intl.Collator("en", { numeric: true }).compare;

/** A host whose package state is known (the probe saw a version or its absence). */
export function isKnownState(o: LatestObservation | null): o is LatestObservation {
  return o !== null && (o.status === "ok" || o.status === "not-installed");
}

/** Reads hosts in inventory with their memberships and newest observation, channels in config and their deployments: three queries. */
export async function readFleetSnapshot(db: Db | Tx = getDb()): Promise<FleetSnapshot> {
  const [hostRows, channelList, deployments] = await Promise.all([
    inventoryHosts(db),
    db.channel.findMany({
      where: { inConfig: true },
      orderBy: [{ position: "asc" }, { name: "asc" }],
      select: { id: true, name: true, requires: true, batchSize: true, maxFailures: true },
    }),
    db.deployment.findMany({
      where: { status: "succeeded", kind: { in: DEPLOYMENT_KINDS }, channel: { inConfig: true } },
      // One deployment at a time per channel (the channel lock), so id order is completion order.
      orderBy: { id: "desc" },
      select: { id: true, channelId: true, kind: true, version: true, fromVersion: true, finishedAt: true, createdAt: true },
    }),
  ]);
  const membersOf = new Map<number, { hostId: number }[]>(channelList.map((c) => [c.id, []]));
  for (const h of hostRows) for (const id of h.channelIds) membersOf.get(id)?.push({ hostId: h.id });
  const channelRows = channelList.map((c) => ({ ...c, hosts: membersOf.get(c.id)! }));

  const hostById = new Map<number, FleetHost>();
  for (const h of hostRows.sort((a, b) => byHostName(a.name, b.name))) {
    hostById.set(h.id, { id: h.id, name: h.name, address: h.address, port: h.port, channelIds: [], observation: h.observation });
  }
  const memberIdsOf = new Map(channelRows.map((c) => [c.id, new Set(c.hosts.map((m) => m.hostId).filter((id) => hostById.has(id)))]));

  const channels: ChannelState[] = channelRows.map((c) => {
    const memberIds = memberIdsOf.get(c.id)!;
    const members = [...hostById.values()].filter((h) => memberIds.has(h.id));
    for (const h of members) h.channelIds.push(c.id);
    // A deployment of a channel holding all of this one's hosts redeployed them too (beta's rollback
    // takes the canary host back along with the rest).
    const coveringIds = new Set(channelRows.filter((o) => o.id === c.id || (memberIds.size > 0 && isSuperset(memberIdsOf.get(o.id)!, memberIds))).map((o) => o.id));
    const past = deployments.filter((d) => coveringIds.has(d.channelId)).sort(newestFirst);
    let currentVersion: string | null = null;
    let currentSource: ChannelState["currentSource"] = null;
    let currentSince: string | null = null;
    let previousVersion: string | null = null;
    const latest = past[0];
    if (latest) {
      currentVersion = latest.version;
      currentSource = "deployment";
      currentSince = finished(latest).toISOString();
      previousVersion = rollbackTarget(past);
    } else {
      currentVersion = mostCommonVersion(members.flatMap((h) => (h.observation?.status === "ok" && h.observation.version ? [h.observation.version] : []))) ?? null;
      currentSource = currentVersion === null ? null : "observed";
    }
    return {
      id: c.id,
      name: c.name,
      hosts: members.map((h) => h.name),
      requires: c.requires,
      batchSize: c.batchSize,
      maxFailures: c.maxFailures,
      currentVersion,
      currentSource,
      currentSince,
      previousVersion,
      drift: 0,
      unverified: 0,
    };
  });

  const snapshot: FleetSnapshot = { hosts: [...hostById.values()], channels };
  const byId = new Map(channels.map((c) => [c.id, c]));
  for (const h of snapshot.hosts) {
    for (const id of h.channelIds) {
      const c = byId.get(id)!;
      if (!isKnownState(h.observation)) c.unverified++;
      else if (countsAsDrift(snapshot, h, c)) c.drift++;
    }
  }
  return snapshot;
}

interface PastDeployment {
  id: number;
  kind: string;
  version: string;
  fromVersion: string | null;
  finishedAt: Date | null;
  createdAt: Date;
}

const finished = (d: PastDeployment) => d.finishedAt ?? d.createdAt;

// Deployments of different channels may overlap, so completion time orders them; within one
// channel id order is completion order (the channel lock).
function newestFirst(a: PastDeployment, b: PastDeployment): number {
  return finished(b).getTime() - finished(a).getTime() || b.id - a.id;
}

function isSuperset(outer: ReadonlySet<number>, inner: ReadonlySet<number>): boolean {
  for (const id of inner) if (!outer.has(id)) return false;
  return true;
}

/**
 * The version a rollback should go back to, from succeeded deployments newest first: the newest
 * earlier version other than the current one that no later rollback moved away from (a rollback
 * records the version it left in fromVersion); else what the latest deployment replaced.
 */
function rollbackTarget(past: readonly PastDeployment[]): string | null {
  const current = past[0]!.version;
  const rolledBackFrom = (version: string, before: number) => past.slice(0, before).some((d) => d.kind === "rollback" && d.fromVersion === version);
  for (let i = 1; i < past.length; i++) {
    const { version } = past[i]!;
    if (version !== current && !rolledBackFrom(version, i)) return version;
  }
  const replaced = past[0]!.fromVersion;
  return replaced !== null && replaced !== current && !rolledBackFrom(replaced, past.length) ? replaced : null;
}

/**
 * The channel whose version a host should run. A host in several channels (the canary host is in
 * canary and in beta) follows the one deployed to last; with no deployments, the widest channel,
 * whose most-observed version says most about what the host should run.
 */
function governingChannel(snapshot: FleetSnapshot, host: FleetHost): ChannelState | null {
  const mine = snapshot.channels.filter((c) => host.channelIds.includes(c.id) && c.currentVersion !== null);
  const deployed = mine.filter((c) => c.currentSource === "deployment");
  if (deployed.length > 0) {
    // Equal times mean one deployment seen through several channels: the widest one ran it.
    return deployed.reduce((a, b) => {
      const d = Date.parse(b.currentSince!) - Date.parse(a.currentSince!);
      return d > 0 || (d === 0 && b.hosts.length > a.hosts.length) ? b : a;
    });
  }
  if (mine.length === 0) return null;
  return mine.reduce((a, b) => (b.hosts.length > a.hosts.length ? b : a));
}

/** What a host should run and by which channel, when it runs something else (null: in line or unknown). */
export function hostDrift(snapshot: FleetSnapshot, host: FleetHost): { channel: string; expected: string } | null {
  if (!isKnownState(host.observation)) return null;
  const gov = governingChannel(snapshot, host);
  if (!gov || gov.currentVersion === null) return null;
  return host.observation.version === gov.currentVersion ? null : { channel: gov.name, expected: gov.currentVersion };
}

// A host that runs the version a later deployment of another of its channels put there is not
// drifting in this one: the canary host is ahead of beta while a build sits on canary.
function countsAsDrift(snapshot: FleetSnapshot, host: FleetHost, channel: ChannelState): boolean {
  const version = host.observation?.version ?? null;
  if (version === channel.currentVersion) return false;
  const gov = governingChannel(snapshot, host);
  return !(gov && gov.id !== channel.id && gov.currentSource === "deployment" && gov.currentVersion === version);
}

/**
 * Channels in config order with their current and previous versions and drift. Reads the database
 * only: the inventory follows the config on its own (lib/fleet/inventory.ts, keepInventoryInSync).
 */
export async function listChannels(db: Db | Tx = getDb()): Promise<ChannelState[]> {
  return (await readFleetSnapshot(db)).channels;
}

/** One channel's state, or null when no such channel is configured. */
export async function getChannel(name: string, db: Db | Tx = getDb()): Promise<ChannelState | null> {
  return (await listChannels(db)).find((c) => c.name === name) ?? null;
}
