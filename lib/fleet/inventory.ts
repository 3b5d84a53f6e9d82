import "server-only";
import { recordAudit, SYSTEM_ACTOR, type Actor } from "../audit/log";
import { getConfig, onConfigLoaded } from "../config";
import { resolveCount, type AppConfig } from "../config-schema";
import { getDb } from "../db";

export interface InventorySyncResult {
  changed: boolean;
  /** Hosts added to inventory, or back in it. */
  added: string[];
  /** Hosts no longer configured (kept with inInventory=false). */
  removed: string[];
  /** Hosts whose address or port changed. */
  updated: string[];
  /** Channels added, removed or changed (settings or members). */
  channels: string[];
}

const globalForInventory = globalThis as unknown as {
  scapInventory?: {
    queue: Promise<unknown>;
    synced: WeakSet<AppConfig>;
    syncing: WeakMap<AppConfig, Promise<InventorySyncResult>>;
    following: boolean;
  };
};

function state() {
  return (globalForInventory.scapInventory ??= { queue: Promise.resolve(), synced: new WeakSet(), syncing: new WeakMap(), following: false });
}

/**
 * Makes the Host, Channel and ChannelHost rows match the config. Reads first and writes (with one
 * `inventory.sync` audit event) only when something differs, so calling it often is cheap.
 */
export function syncInventory(config: AppConfig, actor: Actor = SYSTEM_ACTOR): Promise<InventorySyncResult> {
  // Serialized within the process: two concurrent syncs would both try to create the same rows.
  const s = state();
  const run = s.queue.then(() => syncNow(config, actor));
  s.queue = run.catch(() => undefined);
  s.syncing.set(config, run);
  const forget = () => {
    if (s.syncing.get(config) === run) s.syncing.delete(config);
  };
  return run.then(
    (result) => {
      s.synced.add(config);
      forget();
      return result;
    },
    (e: unknown) => {
      forget();
      throw e;
    },
  );
}

/**
 * Syncs when this config object has not been synced yet (null when it was; the sync under way when
 * one is). lib/config.ts hands out a new object whenever the file changes, so this costs nothing
 * between changes.
 */
export async function ensureInventorySynced(config: AppConfig): Promise<InventorySyncResult | null> {
  const s = state();
  if (s.synced.has(config)) return null;
  return s.syncing.get(config) ?? syncInventory(config);
}

async function syncNow(config: AppConfig, actor: Actor): Promise<InventorySyncResult> {
  const db = getDb();
  const [hosts, channels] = await Promise.all([
    db.host.findMany({ select: { id: true, name: true, address: true, port: true, inInventory: true } }),
    db.channel.findMany({
      select: {
        id: true,
        name: true,
        requires: true,
        batchSize: true,
        maxFailures: true,
        allHosts: true,
        position: true,
        inConfig: true,
        hosts: { select: { host: { select: { name: true } } } },
      },
    }),
  ]);

  const result: InventorySyncResult = { changed: false, added: [], removed: [], updated: [], channels: [] };
  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  const configured = new Set(config.hosts.map((h) => h.name));
  const wantHosts = config.hosts.map((h) => ({ name: h.name, address: h.address ?? h.name, port: h.port ?? config.ssh.port }));

  for (const want of wantHosts) {
    const have = hostByName.get(want.name);
    if (!have || !have.inInventory) result.added.push(want.name);
    else if (have.address !== want.address || have.port !== want.port) result.updated.push(want.name);
  }
  for (const h of hosts) if (h.inInventory && !configured.has(h.name)) result.removed.push(h.name);

  const channelByName = new Map(channels.map((c) => [c.name, c]));
  const wantChannels = config.channels.map((c, position) => {
    const members = (c.hosts === "all" ? config.hosts.map((h) => h.name) : c.hosts).slice().sort();
    return {
      name: c.name,
      requires: c.requires ?? null,
      // Stored resolved against the channel's hosts; a percentage is re-resolved at every sync.
      batchSize: resolveCount(c.batchSize, members.length, 1),
      maxFailures: resolveCount(c.maxFailures, members.length, 0),
      allHosts: c.hosts === "all",
      position,
      members,
    };
  });
  const changedChannels = new Set<string>();
  for (const want of wantChannels) {
    const have = channelByName.get(want.name);
    const members = have?.hosts.map((m) => m.host.name).sort() ?? [];
    if (
      !have ||
      !have.inConfig ||
      have.requires !== want.requires ||
      have.batchSize !== want.batchSize ||
      have.maxFailures !== want.maxFailures ||
      have.allHosts !== want.allHosts ||
      have.position !== want.position ||
      members.join("\n") !== want.members.join("\n")
    ) {
      changedChannels.add(want.name);
    }
  }
  const configuredChannels = new Set(config.channels.map((c) => c.name));
  for (const c of channels) if (c.inConfig && !configuredChannels.has(c.name)) changedChannels.add(c.name);
  result.channels = [...changedChannels];

  result.changed = result.added.length + result.removed.length + result.updated.length + result.channels.length > 0;
  if (!result.changed) return result;

  await db.$transaction(async (tx) => {
    const ids = new Map<string, number>();
    for (const want of wantHosts) {
      const row = await tx.host.upsert({
        where: { name: want.name },
        create: { name: want.name, address: want.address, port: want.port },
        update: { address: want.address, port: want.port, inInventory: true },
        select: { id: true },
      });
      ids.set(want.name, row.id);
    }
    if (result.removed.length > 0) {
      await tx.host.updateMany({ where: { name: { in: result.removed } }, data: { inInventory: false } });
    }
    for (const want of wantChannels) {
      if (!changedChannels.has(want.name)) continue;
      const data = {
        requires: want.requires,
        batchSize: want.batchSize,
        maxFailures: want.maxFailures,
        allHosts: want.allHosts,
        position: want.position,
        inConfig: true,
      };
      const channel = await tx.channel.upsert({ where: { name: want.name }, create: { name: want.name, ...data }, update: data, select: { id: true } });
      await tx.channelHost.deleteMany({ where: { channelId: channel.id } });
      await tx.channelHost.createMany({ data: want.members.map((name) => ({ channelId: channel.id, hostId: ids.get(name)! })) });
    }
    const gone = channels.filter((c) => c.inConfig && !configuredChannels.has(c.name)).map((c) => c.id);
    if (gone.length > 0) {
      await tx.channel.updateMany({ where: { id: { in: gone } }, data: { inConfig: false } });
      await tx.channelHost.deleteMany({ where: { channelId: { in: gone } } });
    }
    // Hosts that left the inventory leave their channels too (an "all" channel is rewritten above).
    if (result.removed.length > 0) {
      await tx.channelHost.deleteMany({ where: { host: { name: { in: result.removed } } } });
    }
    await recordAudit(tx, actor, "inventory.sync", null, {
      added: result.added,
      removed: result.removed,
      updated: result.updated,
      channels: result.channels,
    });
  });
  return result;
}

/**
 * Keeps the inventory in line with the config file: syncs the config loaded now (if any) and every
 * config loaded after it (each successful reload; lib/config.ts's watchConfigFile makes that soon
 * after the file changes). Reads never sync: until the first sync ends, pages show what the
 * database holds. Failures are logged, never thrown. Called once at server start.
 */
export async function keepInventoryInSync(): Promise<void> {
  const s = state();
  if (!s.following) {
    s.following = true;
    onConfigLoaded((config) => ensureInventorySynced(config).catch((e: unknown) => console.error("fleet: inventory sync after a config reload failed", e)));
  }
  try {
    const config = getConfig();
    if (config) await ensureInventorySynced(config);
  } catch (e) {
    console.error("fleet: inventory sync with the config failed", e);
  }
}
