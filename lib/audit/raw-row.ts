import "server-only";
import type { getDb } from "../db";

/** An audit event row as Prisma types it. */
export type AuditRow = Awaited<ReturnType<ReturnType<typeof getDb>["auditEvent"]["findFirstOrThrow"]>>;

// Lists and the export read raw rows (plain SQL, any database): Prisma's row mapping would double
// their time, and its `contains` would take % and _ in the text as wildcards.
export interface RawRow {
  id: number | bigint;
  seq: number | bigint | null;
  at: Date | string;
  actorId: number | bigint | null;
  actorName: string;
  source: string;
  action: string;
  target: string | null;
  channel: string | null;
  version: string | null;
  payload: string;
  ip: string | null;
  userAgent: string | null;
  prevHash: string | null;
  hash: string | null;
}

const num = (v: number | bigint | null) => (v === null ? null : Number(v));

/** A raw row with the driver's numbers and dates made into what Prisma would return. */
export function fromRaw(r: RawRow): AuditRow {
  return { ...r, id: Number(r.id), seq: num(r.seq), actorId: num(r.actorId), at: r.at instanceof Date ? r.at : new Date(r.at) };
}
