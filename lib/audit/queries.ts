import "server-only";
import { z } from "zod";
import { getDb, type Prisma } from "../db";

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.coerce.number().int().positive().optional(),
  actor: z.string().max(100).optional(),
  action: z.string().max(100).optional(),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export interface AuditEventView {
  id: number;
  at: string;
  actor: string;
  source: string;
  action: string;
  target: string | null;
  payload: unknown;
  ip: string | null;
  userAgent: string | null;
}

function where(q: Pick<AuditQuery, "actor" | "action">): Prisma.AuditEventWhereInput {
  return {
    ...(q.actor ? { actorName: q.actor } : {}),
    ...(q.action ? { action: q.action } : {}),
  };
}

function view(row: { id: number; at: Date; actorName: string; source: string; action: string; target: string | null; payload: string; ip: string | null; userAgent: string | null }): AuditEventView {
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch {
    payload = row.payload;
  }
  return { id: row.id, at: row.at.toISOString(), actor: row.actorName, source: row.source, action: row.action, target: row.target, payload, ip: row.ip, userAgent: row.userAgent };
}

/** Newest first; `cursor` is the id of the last event of the previous page. */
export async function listAuditEvents(q: AuditQuery): Promise<{ events: AuditEventView[]; nextCursor: number | null }> {
  const rows = await getDb().auditEvent.findMany({
    where: { ...where(q), ...(q.cursor ? { id: { lt: q.cursor } } : {}) },
    orderBy: { id: "desc" },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return { events: page.map(view), nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

/** The actions and actors that occur, for the filter menus. */
export async function auditFacets(): Promise<{ actions: string[]; actors: string[] }> {
  const db = getDb();
  const [actions, actors] = await Promise.all([
    db.auditEvent.findMany({ distinct: ["action"], select: { action: true }, orderBy: { action: "asc" } }),
    // Failed sign-ins once named the typed name as actor; it must never become a filter choice.
    db.auditEvent.findMany({
      distinct: ["actorName"],
      select: { actorName: true },
      where: { NOT: { action: "user.signin-failed", actorId: null, actorName: { not: "anonymous" } } },
      orderBy: { actorName: "asc" },
    }),
  ]);
  return { actions: actions.map((a) => a.action), actors: actors.map((a) => a.actorName) };
}

const CSV_COLUMNS = ["id", "at", "actor", "source", "action", "target", "ip", "userAgent", "payload"] as const;

// Spreadsheets run a cell as a formula when it starts with = + - @ (or their full-width forms),
// also after leading blanks, line breaks or a ; or , separator, and some when it starts with a
// tab, CR or LF. Such cells get a leading ' so they stay text.
const FORMULA_START = /^[\s;,]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r\n]/;

export function csvCell(value: unknown): string {
  const s = value == null ? "" : typeof value === "string" ? value : JSON.stringify(value);
  const safe = FORMULA_START.test(s) ? `'${s}` : s;
  // Quoted also for ; and tab, so a reader that splits on those keeps the cell whole.
  return /[",;\t\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** Streams every matching event, oldest first, as CSV or JSON lines of one array. */
export async function* exportAuditEvents(format: "csv" | "json", q: Pick<AuditQuery, "actor" | "action">): AsyncGenerator<string> {
  const db = getDb();
  let after = 0;
  let first = true;
  yield format === "csv" ? CSV_COLUMNS.join(",") + "\n" : "[";
  for (;;) {
    const rows = await db.auditEvent.findMany({ where: { ...where(q), id: { gt: after } }, orderBy: { id: "asc" }, take: 1000 });
    if (rows.length === 0) break;
    for (const row of rows) {
      const v = view(row);
      if (format === "csv") yield CSV_COLUMNS.map((c) => csvCell(v[c])).join(",") + "\n";
      else {
        yield (first ? "\n" : ",\n") + JSON.stringify(v);
        first = false;
      }
    }
    after = rows[rows.length - 1]!.id;
  }
  if (format === "json") yield "\n]\n";
}
