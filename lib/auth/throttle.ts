import "server-only";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";

// Failed sign-ins, counted in the database per attempted name AND client address, so a stranger
// elsewhere cannot pause anyone's sign-in, and every replica sees the same counts.
export const WINDOW_MS = 15 * 60_000;
/** Failures of one name from one address in a window before that pair is paused. */
export const NAME_LIMIT = 5;
/** Failures from one address, whatever the names, before the address is paused. */
export const ADDRESS_LIMIT = 20;

/** Who a failed sign-in is recorded as: nobody in particular (the typed name goes in the payload). */
export const ANONYMOUS = "anonymous";

const NAME_CHARS = 100;
const SHOWN_CHARS = 40;

function key(name: string, address: string | null) {
  return { name: Array.from(name).slice(0, NAME_CHARS).join(""), address: address ?? "" };
}

/** The typed name for the audit log: clipped, and anything but printable ASCII written as \u{..}. */
export function describeAttemptedName(raw: string): string {
  const chars = Array.from(raw);
  const shown = chars
    .slice(0, SHOWN_CHARS)
    .map((c) => (/^[\x21-\x7e]$/.test(c) && c !== "\\" ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`))
    .join("");
  return chars.length > SHOWN_CHARS ? `${shown}…` : shown;
}

/** Whether sign-in for this name from this address is paused (the pair's or the address's failures). */
export async function isThrottled(name: string, address: string | null, now = new Date()): Promise<boolean> {
  const k = key(name, address);
  const since = new Date(now.getTime() - WINDOW_MS);
  const db = getDb();
  const pair = await db.signInFailure.findUnique({ where: { name_address: k } });
  if (pair && pair.windowStart > since && pair.count >= NAME_LIMIT) return true;
  const total = await db.signInFailure.aggregate({ _sum: { count: true }, where: { address: k.address, windowStart: { gt: since } } });
  return (total._sum.count ?? 0) >= ADDRESS_LIMIT;
}

export interface FailedAttempt {
  name: string;
  address: string | null;
  userAgent: string | null;
  /** password: checked and wrong (or no such user); throttled: refused unchecked while paused; the rest: refused after the identity provider's sign-in (lib/auth/oidc.ts). */
  reason: "password" | "throttled" | "no-role" | "disabled" | "name-taken";
}

/**
 * Counts a failed sign-in and audits it as the anonymous actor, bounded: an event for the first
 * failure of a name from an address in a window and for the failure that pauses the pair or the
 * address, and none past the address's limit (so at most ADDRESS_LIMIT per address and window).
 * Returns whether an event was written.
 */
export async function recordFailure(attempt: FailedAttempt, now = new Date()): Promise<boolean> {
  const k = key(attempt.name, attempt.address);
  const since = new Date(now.getTime() - WINDOW_MS);
  return getDb().$transaction(async (tx) => {
    await tx.signInFailure.deleteMany({ where: { windowStart: { lte: since } } });
    const row = await tx.signInFailure.upsert({
      where: { name_address: k },
      create: { ...k, count: 1, windowStart: now },
      update: { count: { increment: 1 } },
    });
    const total = await tx.signInFailure.aggregate({ _sum: { count: true }, where: { address: k.address, windowStart: { gt: since } } });
    const fromAddress = total._sum.count ?? 0;
    const pauses = row.count === NAME_LIMIT || fromAddress === ADDRESS_LIMIT;
    const audited = (row.count === 1 || pauses) && fromAddress <= ADDRESS_LIMIT;
    if (audited) {
      const actor: Actor = { id: null, name: ANONYMOUS, source: "ui", role: "viewer", ip: attempt.address, userAgent: attempt.userAgent };
      await recordAudit(tx, actor, "user.signin-failed", null, {
        reason: attempt.reason,
        attemptedName: describeAttemptedName(attempt.name),
        failures: row.count,
        ...(pauses ? { paused: true } : {}),
      });
    }
    return audited;
  });
}

export interface AttemptCounts {
  /** This name's attempts from this address in the window, this one included. */
  pair: number;
  /** All attempts from this address in the window, this one included. */
  fromAddress: number;
  /** Past a limit: refuse without checking the password. */
  paused: boolean;
}

/**
 * Counts a password attempt BEFORE the password is checked, in one transaction, so parallel
 * attempts each see their own count: at most NAME_LIMIT passwords per name and address (and
 * ADDRESS_LIMIT per address) are ever checked in a window, however many requests arrive at once.
 * A successful sign-in then forgets the pair (clearFailures).
 */
export async function reserveAttempt(name: string, address: string | null, now = new Date()): Promise<AttemptCounts> {
  const k = key(name, address);
  const since = new Date(now.getTime() - WINDOW_MS);
  return getDb().$transaction(async (tx) => {
    await tx.signInFailure.deleteMany({ where: { windowStart: { lte: since } } });
    const row = await tx.signInFailure.upsert({ where: { name_address: k }, create: { ...k, count: 1, windowStart: now }, update: { count: { increment: 1 } } });
    const total = await tx.signInFailure.aggregate({ _sum: { count: true }, where: { address: k.address, windowStart: { gt: since } } });
    const fromAddress = total._sum.count ?? 0;
    return { pair: row.count, fromAddress, paused: row.count > NAME_LIMIT || fromAddress > ADDRESS_LIMIT };
  });
}

/** Audits a refused password attempt already counted by reserveAttempt, bounded like recordFailure. */
export async function auditCountedFailure(attempt: FailedAttempt, counts: AttemptCounts): Promise<boolean> {
  const pauses = counts.pair === NAME_LIMIT || counts.fromAddress === ADDRESS_LIMIT;
  const audited = (counts.pair === 1 || pauses) && counts.fromAddress <= ADDRESS_LIMIT;
  if (!audited) return false;
  const actor: Actor = { id: null, name: ANONYMOUS, source: "ui", role: "viewer", ip: attempt.address, userAgent: attempt.userAgent };
  await getDb().$transaction((tx) =>
    recordAudit(tx, actor, "user.signin-failed", null, {
      reason: attempt.reason,
      attemptedName: describeAttemptedName(attempt.name),
      failures: counts.pair,
      ...(pauses ? { paused: true } : {}),
    }),
  );
  return true;
}

/** A successful sign-in forgets that pair's failures. */
export async function clearFailures(name: string, address: string | null): Promise<void> {
  await getDb().signInFailure.deleteMany({ where: key(name, address) });
}
