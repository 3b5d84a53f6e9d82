import "server-only";
import { createHash } from "node:crypto";
import type { Tx } from "../db";

// The audit hash chain. Each event stores SHA-256 over the previous event's hash and its own
// content, so changing, removing or inserting an event behind the app's back breaks the chain at
// that point. There is no secret: whoever can rewrite the database can also rewrite every later
// hash and the head, so `audit verify` prints the head hash for copying somewhere else.

/** The stored columns an event's hash covers. */
export interface ChainedContent {
  seq: number;
  at: Date;
  actorId: number | null;
  actorName: string;
  source: string;
  action: string;
  target: string | null;
  channel: string | null;
  version: string | null;
  /** As stored (JSON text). */
  payload: string;
  ip: string | null;
  userAgent: string | null;
}

const ALGORITHM = "scap-audit-v1";

/** Canonical form: a JSON array in a fixed order, so no key order or spacing can differ. */
export function canonicalEvent(e: ChainedContent, prevHash: string | null): string {
  return JSON.stringify([
    ALGORITHM,
    e.seq,
    e.at.toISOString(),
    e.actorId,
    e.actorName,
    e.source,
    e.action,
    e.target,
    e.channel,
    e.version,
    e.payload,
    e.ip,
    e.userAgent,
    prevHash,
  ]);
}

export function eventHash(e: ChainedContent, prevHash: string | null): string {
  return createHash("sha256").update(canonicalEvent(e, prevHash)).digest("hex");
}

interface HeadRow {
  seq: number | bigint;
  hash: string | null;
  legacySeq: number | bigint;
}

/**
 * Moves the head one place on and returns the new event's seq and the previous hash. The UPDATE
 * comes first so the lock is held before the previous hash is read: in SQLite it takes the
 * database's write lock, in PostgreSQL the head row's lock, which a second writer waits for and
 * then sees the first one's committed head. Chains the events from before the chain on first use.
 */
export async function advanceHead(tx: Tx): Promise<{ seq: number; prevHash: string | null }> {
  const rows = await tx.$queryRaw<HeadRow[]>`UPDATE "AuditHead" SET "seq" = "seq" + 1 WHERE "id" = 1 RETURNING "seq", "hash", "legacySeq"`;
  const head = rows[0];
  if (!head) throw new Error("the audit chain head (AuditHead row 1) is missing: run the database migrations");
  const seq = Number(head.seq);
  const legacySeq = Number(head.legacySeq);
  if (head.hash === null && legacySeq > 0) return { seq, prevHash: await chainLegacyEvents(tx, legacySeq) };
  return { seq, prevHash: head.hash };
}

/** Records the new event's hash as the head's. */
export async function settleHead(tx: Tx, seq: number, hash: string): Promise<void> {
  await tx.$executeRaw`UPDATE "AuditHead" SET "hash" = ${hash} WHERE "id" = 1 AND "seq" = ${seq}`;
}

/**
 * Gives the events written before the chain existed (seq 1..legacySeq, numbered by the migration)
 * their hashes, under the head's lock; returns the last one's hash. Runs once per database.
 */
async function chainLegacyEvents(tx: Tx, legacySeq: number): Promise<string | null> {
  let prev: string | null = null;
  let after = 0;
  for (;;) {
    const rows = await tx.auditEvent.findMany({ where: { seq: { gt: after, lte: legacySeq } }, orderBy: { seq: "asc" }, take: 2000 });
    if (rows.length === 0) break;
    for (const row of rows) {
      const seq = row.seq!;
      if (row.hash === null) {
        const hash = eventHash({ ...row, seq }, prev);
        await tx.$executeRaw`UPDATE "AuditEvent" SET "prevHash" = ${prev}, "hash" = ${hash} WHERE "id" = ${row.id} AND "hash" IS NULL`;
        prev = hash;
      } else prev = row.hash;
      after = seq;
    }
  }
  await tx.$executeRaw`UPDATE "AuditHead" SET "hash" = ${prev} WHERE "id" = 1 AND "hash" IS NULL`;
  return prev;
}

/** Takes the head's lock and chains the events from before the chain, if any still need it. */
export async function ensureChained(tx: Tx): Promise<void> {
  const rows = await tx.$queryRaw<HeadRow[]>`UPDATE "AuditHead" SET "seq" = "seq" WHERE "id" = 1 RETURNING "seq", "hash", "legacySeq"`;
  const head = rows[0];
  if (head && head.hash === null && Number(head.legacySeq) > 0) await chainLegacyEvents(tx, Number(head.legacySeq));
}
