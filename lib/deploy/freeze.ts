import "server-only";
import { recordAudit, type Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import { getDb, type Db, type Tx } from "../db";
import { AppError } from "../errors";

// A freeze is state in the database, set by an admin for a deployment window or an incident:
// promotions and rollbacks of the channel are refused (an admin may override) until it is lifted
// or its end time passes.

export interface Freeze {
  by: string;
  reason: string;
  since: string;
  until: string | null;
}

interface FreezeColumns {
  frozenAt: Date | null;
  frozenBy: string | null;
  freezeReason: string | null;
  frozenUntil: Date | null;
}

/** The freeze in force on a channel row, or null (none, or its end time has passed). */
export function activeFreeze(c: FreezeColumns, now = new Date()): Freeze | null {
  if (!c.frozenAt) return null;
  if (c.frozenUntil && c.frozenUntil <= now) return null;
  return { by: c.frozenBy ?? "someone", reason: c.freezeReason ?? "", since: c.frozenAt.toISOString(), until: c.frozenUntil?.toISOString() ?? null };
}

export function freezeMessage(channel: string, f: Freeze): string {
  return `${channel} is frozen by ${f.by} since ${f.since.replace("T", " ").replace(/\.\d+Z$/, " UTC")}: ${f.reason}${f.until ? ` (until ${f.until.replace("T", " ").replace(/\.\d+Z$/, " UTC")})` : ""}. An admin may override with a reason.`;
}

const FREEZE_COLUMNS = { name: true, frozenAt: true, frozenBy: true, freezeReason: true, frozenUntil: true } as const;

/** Every channel in the config that is frozen now, by name. */
export async function frozenChannels(db: Db | Tx = getDb()): Promise<Map<string, Freeze>> {
  const rows = await db.channel.findMany({ where: { inConfig: true, frozenAt: { not: null } }, select: FREEZE_COLUMNS });
  const out = new Map<string, Freeze>();
  for (const r of rows) {
    const f = activeFreeze(r);
    if (f) out.set(r.name, f);
  }
  return out;
}

export async function freezeChannel(actor: Actor, name: string, req: { reason: string; until?: Date | null }): Promise<Freeze> {
  authorize(actor, "admin");
  if (req.until && req.until <= new Date()) throw new AppError("BAD_REQUEST", "until: the end of a freeze must be in the future.");
  return getDb().$transaction(async (tx) => {
    const c = await tx.channel.findFirst({ where: { name, inConfig: true }, select: { id: true } });
    if (!c) throw new AppError("NOT_FOUND", `No channel named ${name} is configured.`);
    const row = await tx.channel.update({
      where: { id: c.id },
      data: { frozenAt: new Date(), frozenBy: actor.name, freezeReason: req.reason, frozenUntil: req.until ?? null },
      select: FREEZE_COLUMNS,
    });
    await recordAudit(tx, actor, "channel.freeze", name, { channel: name, reason: req.reason, until: req.until?.toISOString() ?? null });
    return activeFreeze(row)!;
  });
}

export async function unfreezeChannel(actor: Actor, name: string): Promise<void> {
  authorize(actor, "admin");
  await getDb().$transaction(async (tx) => {
    const c = await tx.channel.findFirst({ where: { name, inConfig: true }, select: { id: true, ...FREEZE_COLUMNS } });
    if (!c) throw new AppError("NOT_FOUND", `No channel named ${name} is configured.`);
    const f = activeFreeze(c);
    if (!f) throw new AppError("CONFLICT", `${name} is not frozen.`);
    await tx.channel.update({ where: { id: c.id }, data: { frozenAt: null, frozenBy: null, freezeReason: null, frozenUntil: null } });
    await recordAudit(tx, actor, "channel.unfreeze", name, { channel: name, frozenBy: f.by, reason: f.reason });
  });
}
