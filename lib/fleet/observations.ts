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

interface Row {
  hostId: number | bigint;
  status: string;
  version: string | null;
  errorKind: string | null;
  error: string | null;
  durationMs: number | bigint | null;
  observedAt: Date | string | number | bigint;
}

// Raw queries return DateTime columns as stored by the driver adapter; accept each form it uses.
function toDate(v: Row["observedAt"]): Date {
  if (v instanceof Date) return v;
  if (typeof v === "bigint") return new Date(Number(v));
  if (typeof v === "number") return new Date(v);
  return new Date(/^\d+$/.test(v) ? Number(v) : v);
}

function fromRow(r: Row): LatestObservation {
  return {
    hostId: Number(r.hostId),
    status: isHostStatus(r.status) ? r.status : "unknown",
    version: r.version,
    errorKind: r.errorKind,
    error: r.error,
    durationMs: r.durationMs === null ? null : Number(r.durationMs),
    observedAt: toDate(r.observedAt),
  };
}

/**
 * The newest observation of each host in inventory (or of the given hosts), one index seek per host
 * on (hostId, observedAt): the history table grows with every probe, so no scan of it.
 * With `knownOnly`, the newest observation that saw the package state (ok or not-installed).
 */
export async function latestObservations(db: Db | Tx, opts: { hostIds?: number[]; knownOnly?: boolean } = {}): Promise<Map<number, LatestObservation>> {
  const known = opts.knownOnly ? `AND o2."status" IN ('ok', 'not-installed')` : "";
  const hostFilter =
    opts.hostIds === undefined ? `h."inInventory" = 1` : opts.hostIds.length === 0 ? "0" : `h."id" IN (${opts.hostIds.map((id) => Number(id)).join(",")})`;
  // Only integers and fixed text are spliced in: ids went through Number() above.
  const rows = await db.$queryRawUnsafe<Row[]>(
    `SELECT o."hostId", o."status", o."version", o."errorKind", o."error", o."durationMs", o."observedAt"
       FROM "Host" h
       JOIN "HostObservation" o ON o."id" = (
         SELECT o2."id" FROM "HostObservation" o2
          WHERE o2."hostId" = h."id" ${known}
          ORDER BY o2."observedAt" DESC, o2."id" DESC
          LIMIT 1)
      WHERE ${hostFilter}`,
  );
  return new Map(rows.map((r) => [Number(r.hostId), fromRow(r)]));
}
