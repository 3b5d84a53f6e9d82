import "server-only";
import { z } from "zod";
import { getDb, type Prisma } from "../db";
import { Prisma as Sql } from "../generated/prisma/client";
import { fromRaw, type AuditRow, type RawRow } from "./raw-row";
import { summarizeEvent, summaryText, type DeploymentContext, type Segment } from "./summary";

const text = (max: number) => z.string().trim().max(max).optional().transform((v) => (v ? v : undefined));
/** A day (YYYY-MM-DD, UTC) or an ISO date-time. */
const when = z
  .string()
  .trim()
  .max(40)
  .optional()
  .transform((v, ctx) => {
    if (!v) return undefined;
    const day = /^\d{4}-\d{2}-\d{2}$/.test(v);
    const d = new Date(day ? `${v}T00:00:00Z` : v);
    if (Number.isNaN(d.getTime())) {
      ctx.addIssue({ code: "custom", message: "expected a date (YYYY-MM-DD) or an ISO date-time" });
      return z.NEVER;
    }
    return { at: d, day };
  });

export const auditFilterSchema = z.object({
  actor: text(100),
  action: text(100),
  channel: text(100),
  version: text(200),
  /** From this time (a day: from its start). */
  from: when,
  /** Until this time (a day: to its end). */
  to: when,
  /** Free text, matched in the actor, target and payload. */
  q: text(200),
});

export const auditQuerySchema = auditFilterSchema.extend({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** The id of the last event of the previous page. */
  cursor: z.coerce.number().int().positive().optional(),
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export interface AuditEventView {
  id: number;
  seq: number | null;
  at: string;
  actor: string;
  source: string;
  action: string;
  target: string | null;
  channel: string | null;
  version: string | null;
  payload: unknown;
  ip: string | null;
  userAgent: string | null;
  hash: string | null;
  /** The event in words. */
  summary: string;
}

type Row = AuditRow;

/**
 * The filter as SQL conditions; with the keyset on (at, id) each is a range the indexes (at),
 * (actorName, at), (action, at), (actorName, action, at), (channel, at) and (version, at) serve in
 * order. Free text scans.
 */
function filterSql(f: Partial<AuditFilter>): Prisma.Sql[] {
  const and: Prisma.Sql[] = [];
  if (f.actor) and.push(Sql.sql`"actorName" = ${f.actor}`);
  if (f.action) and.push(Sql.sql`"action" = ${f.action}`);
  if (f.channel) and.push(Sql.sql`"channel" = ${f.channel}`);
  if (f.version) and.push(Sql.sql`"version" = ${f.version}`);
  if (f.from) and.push(Sql.sql`"at" >= ${f.from.at}`);
  if (f.to) and.push(f.to.day ? Sql.sql`"at" < ${new Date(f.to.at.getTime() + 86_400_000)}` : Sql.sql`"at" <= ${f.to.at}`);
  if (f.q) {
    const like = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    and.push(Sql.sql`("payload" LIKE ${like} ESCAPE '\\' OR "target" LIKE ${like} ESCAPE '\\' OR "actorName" LIKE ${like} ESCAPE '\\')`);
  }
  return and;
}

async function selectEvents(conditions: Prisma.Sql[], order: Prisma.Sql, limit: number): Promise<RawRow[]> {
  const where = conditions.length ? Sql.sql`WHERE ${Sql.join(conditions, " AND ")}` : Sql.empty;
  return getDb().$queryRaw<RawRow[]>`SELECT "id", "seq", "at", "actorId", "actorName", "source", "action", "target", "channel", "version", "payload", "ip", "userAgent", "prevHash", "hash"
    FROM "AuditEvent" ${where} ${order} LIMIT ${limit}`;
}

function parsePayload(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** The deployments the events name, for their summaries (who started one, how it ended). */
async function deploymentContext(rows: Row[]): Promise<DeploymentContext> {
  const ids = new Set<number>();
  for (const r of rows) {
    if (!r.action.startsWith("deployment.")) continue;
    const id = (parsePayload(r.payload) as { deploymentId?: unknown } | null)?.deploymentId;
    if (typeof id === "number") ids.add(id);
  }
  if (ids.size === 0) return new Map();
  const deployments = await getDb().deployment.findMany({
    where: { id: { in: [...ids] } },
    select: { id: true, kind: true, status: true, actorName: true, _count: { select: { targets: true } } },
  });
  return new Map(deployments.map((d) => [d.id, { kind: d.kind, status: d.status, actorName: d.actorName, hosts: d._count.targets }]));
}

export interface AuditEventWithSummary extends AuditEventView {
  segments: Segment[];
}

function view(row: Row, context: DeploymentContext): AuditEventWithSummary {
  const base = {
    id: row.id,
    seq: row.seq,
    at: row.at.toISOString(),
    actor: row.actorName,
    source: row.source,
    action: row.action,
    target: row.target,
    channel: row.channel,
    version: row.version,
    payload: parsePayload(row.payload),
    ip: row.ip,
    userAgent: row.userAgent,
    hash: row.hash,
  };
  const segments = summarizeEvent(base, context);
  return { ...base, summary: summaryText(segments), segments };
}

/** Newest first; `cursor` is the id of the last event of the previous page. */
export async function listAuditEvents(q: Partial<AuditFilter> & Pick<AuditQuery, "limit" | "cursor">): Promise<{ events: AuditEventWithSummary[]; nextCursor: number | null }> {
  const db = getDb();
  const conditions = filterSql(q);
  if (q.cursor) {
    const last = await db.auditEvent.findUnique({ where: { id: q.cursor }, select: { at: true } });
    conditions.push(last ? Sql.sql`"at" <= ${last.at} AND NOT ("at" = ${last.at} AND "id" >= ${q.cursor})` : Sql.sql`"id" < ${q.cursor}`);
  }
  const rows = (await selectEvents(conditions, Sql.sql`ORDER BY "at" DESC, "id" DESC`, q.limit + 1)).map(fromRaw);
  const page = rows.slice(0, q.limit);
  const context = await deploymentContext(page);
  return { events: page.map((r) => view(r, context)), nextCursor: rows.length > q.limit ? page[page.length - 1]!.id : null };
}

/** The API's form of an event: the summary as text, without the page's link segments. */
export function apiEvent({ segments: _segments, ...e }: AuditEventWithSummary): AuditEventView {
  return e;
}

/**
 * The actions, actors and channels that occur, for the filter menus. Each distinct value is found
 * by one index seek from the last (a recursive query), so this stays fast at any number of events.
 */
export async function auditFacets(): Promise<{ actions: string[]; actors: string[]; channels: string[] }> {
  const db = getDb();
  const [actions, actors, channels] = await Promise.all([
    db.$queryRaw<{ v: string }[]>`WITH RECURSIVE d(v) AS (
        SELECT MIN("action") FROM "AuditEvent"
        UNION ALL SELECT (SELECT MIN("action") FROM "AuditEvent" WHERE "action" > d.v) FROM d WHERE d.v IS NOT NULL
      ) SELECT v FROM d WHERE v IS NOT NULL`,
    // Failed sign-ins once named the typed name as actor; it must never become a filter choice.
    db.$queryRaw<{ v: string }[]>`WITH RECURSIVE d(v) AS (
        SELECT MIN("actorName") FROM "AuditEvent"
        UNION ALL SELECT (SELECT MIN("actorName") FROM "AuditEvent" WHERE "actorName" > d.v) FROM d WHERE d.v IS NOT NULL
      ) SELECT v FROM d WHERE v IS NOT NULL AND EXISTS (
        SELECT 1 FROM "AuditEvent" e WHERE e."actorName" = d.v
        AND NOT (e."action" = 'user.signin-failed' AND e."actorId" IS NULL AND e."actorName" <> 'anonymous')
      )`,
    db.channel.findMany({ select: { name: true }, orderBy: [{ position: "asc" }, { name: "asc" }] }),
  ]);
  return { actions: actions.map((a) => a.v), actors: actors.map((a) => a.v), channels: channels.map((c) => c.name) };
}

const CSV_COLUMNS = ["id", "at", "actor", "source", "action", "target", "ip", "userAgent", "payload", "channel", "version", "summary", "seq", "hash"] as const;

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

// A page's text stays under V8's large-object size (about 128 KB): a string above it goes straight
// to the old generation, which only a full collection frees (1,000 rows of CSV made about 260 KB).
const EXPORT_PAGE = 200;

/** One page of the export as text, and where the next page starts; nothing of the page outlives it. */
async function exportPage(format: "csv" | "json", base: Prisma.Sql[], after: { at: Date; id: number } | null, first: boolean): Promise<{ text: string; last: { at: Date; id: number } | null; rows: number }> {
  const conditions: Prisma.Sql[] = after ? [...base, Sql.sql`"at" >= ${after.at} AND NOT ("at" = ${after.at} AND "id" <= ${after.id})`] : base;
  const rows: Row[] = (await selectEvents(conditions, Sql.sql`ORDER BY "at" ASC, "id" ASC`, EXPORT_PAGE)).map(fromRaw);
  if (rows.length === 0) return { text: "", last: null, rows: 0 };
  const context = await deploymentContext(rows);
  const parts: string[] = [];
  for (const row of rows) {
    const v = apiEvent(view(row, context));
    if (format === "csv") parts.push(CSV_COLUMNS.map((c) => csvCell(v[c])).join(",") + "\n");
    else parts.push((first && parts.length === 0 ? "\n" : ",\n") + JSON.stringify(v));
  }
  const end = rows[rows.length - 1]!;
  return { text: parts.join(""), last: { at: end.at, id: end.id }, rows: rows.length };
}

/**
 * Every event the filter matches, oldest first, as CSV or as one JSON array, a page of 200 read
 * at a time (keyset on at, id), so an export of any size holds one page in memory; the next page
 * is read only when the consumer pulls (app/api/audit/export/route.ts).
 */
export async function* exportAuditEvents(format: "csv" | "json", f: Partial<AuditFilter>): AsyncGenerator<string> {
  const base = filterSql(f);
  let last: { at: Date; id: number } | null = null;
  let first = true;
  yield format === "csv" ? CSV_COLUMNS.join(",") + "\n" : "[";
  for (;;) {
    const page = await exportPage(format, base, last, first);
    if (page.rows === 0) break;
    first = false;
    last = page.last;
    yield page.text;
    if (page.rows < EXPORT_PAGE) break;
  }
  if (format === "json") yield "\n]\n";
}
