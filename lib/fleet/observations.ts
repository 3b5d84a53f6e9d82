import "server-only";
import type { Db, Tx } from "../db";
import { isHostStatus, type HostStatus } from "./status";

export interface LatestObservation {
  hostId: number;
  status: HostStatus;
  version: string | null;
  errorKind: string | null;
  error: string | null;
  durationMs: number | null;
  observedAt: Date;
}

/** An observation as the aggregate queries below return it: [hostId, status, version, errorKind, error, durationMs, observedAt]. */
type Row = [number, string, string | null, string | null, string | null, number | null, string | number];

function fromRow(r: Row): LatestObservation {
  const [hostId, status, version, errorKind, error, durationMs, observedAt] = r;
  return {
    hostId,
    status: isHostStatus(status) ? status : "unknown",
    version,
    errorKind,
    error,
    durationMs,
    // Stored as ISO 8601 text by the driver adapter; a number is epoch milliseconds.
    observedAt: new Date(observedAt),
  };
}

// A fleet's rows come back as one JSON text built by SQLite: the driver adapter's and Prisma's
// mapping of thousands of rows value by value cost more than the query itself.
const OBSERVATION_JSON = `json_array(o."hostId", o."status", o."version", o."errorKind", o."error", o."durationMs", o."observedAt")`;

/** The newest observation of host h (with `known`: the newest that saw the package state), as a subquery for o's id. */
function newestOf(knownOnly: boolean): string {
  const known = knownOnly ? `AND o2."status" IN ('ok', 'not-installed')` : "";
  return `(SELECT o2."id" FROM "HostObservation" o2
            WHERE o2."hostId" = h."id" ${known}
            ORDER BY o2."observedAt" DESC, o2."id" DESC
            LIMIT 1)`;
}

/**
 * The newest observation of each host in inventory (or of the given hosts), one index seek per host
 * on (hostId, observedAt): the history table grows with every probe, so no scan of it.
 * With `knownOnly`, the newest observation that saw the package state (ok or not-installed).
 */
export async function latestObservations(db: Db | Tx, opts: { hostIds?: number[]; knownOnly?: boolean } = {}): Promise<Map<number, LatestObservation>> {
  const hostFilter =
    opts.hostIds === undefined ? `h."inInventory" = 1` : opts.hostIds.length === 0 ? "0" : `h."id" IN (${opts.hostIds.map((id) => Number(id)).join(",")})`;
  // Only integers and fixed text are spliced in: ids went through Number() above.
  const [result] = await db.$queryRawUnsafe<{ rows: string | null }[]>(
    `SELECT json_group_array(${OBSERVATION_JSON}) AS "rows"
       FROM "Host" h
       JOIN "HostObservation" o ON o."id" = ${newestOf(opts.knownOnly ?? false)}
      WHERE ${hostFilter}`,
  );
  const rows = JSON.parse(result?.rows ?? "[]") as Row[];
  return new Map(rows.map((r) => [r[0], fromRow(r)]));
}

export interface InventoryHost {
  id: number;
  name: string;
  address: string;
  port: number;
  /** Every channel the host is a member of (in config or not). */
  channelIds: number[];
  observation: LatestObservation | null;
}

/** Hosts in inventory with their channel memberships and newest observation, in one statement. */
export async function inventoryHosts(db: Db | Tx): Promise<InventoryHost[]> {
  const [result] = await db.$queryRawUnsafe<{ rows: string | null }[]>(
    `SELECT json_group_array(json_array(h."id", h."name", h."address", h."port",
              (SELECT json_group_array(m."channelId") FROM "ChannelHost" m WHERE m."hostId" = h."id"),
              CASE WHEN o."id" IS NULL THEN NULL ELSE ${OBSERVATION_JSON} END)) AS "rows"
       FROM "Host" h
       LEFT JOIN "HostObservation" o ON o."id" = ${newestOf(false)}
      WHERE h."inInventory" = 1`,
  );
  const rows = JSON.parse(result?.rows ?? "[]") as [number, string, string, number, number[], Row | null][];
  return rows.map(([id, name, address, port, channelIds, o]) => ({ id, name, address, port, channelIds, observation: o ? fromRow(o) : null }));
}
