import "server-only";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { clientAddress } from "./client-address";
import { apiCaller, callerOf, requestActor } from "./guard";
import { ANONYMOUS } from "./throttle";

// Refused API mutations are audited, aggregated so that a flood cannot grow the log without bound:
// per (caller, client address, route, reason[, target]) and window a row counts every refusal, and
// an `auth.refused` event is written for the 1st, 10th, 100th, ... of them, carrying the count. A
// caller the request does not name is "anonymous" and keyed by address alone (not by what it typed);
// events are capped per caller and address, and for anonymous callers over all addresses too.
export const WINDOW_MS = 15 * 60_000;
/** Events per anonymous address and window. */
export const ANONYMOUS_ADDRESS_LIMIT = 20;
/** Events of anonymous callers per window, all addresses together. */
export const ANONYMOUS_TOTAL_LIMIT = 200;
/** Events per named caller (and address) and window. */
export const CALLER_LIMIT = 100;
/** Rows untouched this long are deleted. */
const STALE_MS = 24 * 60 * 60_000;

const STATIC_SEGMENTS = new Set(["api", "builds", "refresh", "hosts", "channels", "plan", "promote", "rollback", "deployments", "cancel", "retry", "events", "tokens", "revoke", "users", "role", "disable", "audit", "export", "health"]);
const PARAM_AFTER: Record<string, string> = { channels: ":name", deployments: ":id", tokens: ":id", users: ":name" };

/** Characters of a typed value kept, printable ASCII only (the rest written as \u{..}). */
function escapeText(raw: string, max: number): string {
  const chars = Array.from(raw);
  const shown = chars
    .slice(0, max)
    .map((c) => (/^[\x20-\x7e]$/.test(c) && c !== "\\" ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`))
    .join("");
  return chars.length > max ? `${shown}…` : shown;
}

/** The route pattern of a path (its parameters replaced by names) and the first parameter's value. */
export function describeRoute(pathname: string): { route: string; target: string } {
  const parts = pathname.split("/").filter(Boolean).slice(0, 8);
  let target = "";
  const route = parts.map((p, i) => {
    if (STATIC_SEGMENTS.has(p)) return p;
    if (!target) {
      try {
        target = escapeText(decodeURIComponent(p), 60);
      } catch {
        target = escapeText(p, 60);
      }
    }
    return PARAM_AFTER[parts[i - 1] ?? ""] ?? ":param";
  });
  return { route: `/${route.join("/")}`, target };
}

const CODE_REASON: Record<string, string> = {
  BAD_REQUEST: "validation",
  UNAUTHORIZED: "unauthorized",
  FORBIDDEN: "forbidden",
  NOT_FOUND: "not-found",
  CONFLICT: "conflict",
  NOT_CONFIGURED: "not-configured",
  PAYLOAD_TOO_LARGE: "too-large",
};

export interface Refusal {
  status: number;
  code: string;
  reason: string;
  message: string;
  permission?: string;
  channel?: string;
  token?: { prefix: string; state?: string };
}

/** What a thrown error refuses, or null when it is not a refusal (a failure of ours: 5xx). */
export function refusalOf(e: unknown): Refusal | null {
  if (e instanceof z.ZodError) {
    const issue = e.issues[0];
    const where = issue && issue.path.length ? `${issue.path.join(".")}: ` : "";
    return { status: 400, code: "BAD_REQUEST", reason: "validation", message: escapeText(`${where}${issue?.message ?? "invalid input"}`, 300) };
  }
  if (!(e instanceof AppError) || e.status >= 500) return null;
  const d = e.details ?? {};
  const refusal = typeof d.refusal === "string" && /^[a-z][a-z-]{0,39}$/.test(d.refusal) ? d.refusal : CODE_REASON[e.code] ?? "refused";
  const token = d.token as { prefix?: unknown; state?: unknown } | undefined;
  return {
    status: e.status,
    code: e.code,
    reason: refusal,
    message: escapeText(e.message, 300),
    ...(typeof d.permission === "string" ? { permission: d.permission } : {}),
    ...(typeof d.channel === "string" ? { channel: escapeText(d.channel, 60) } : {}),
    ...(token && typeof token.prefix === "string" ? { token: { prefix: token.prefix, ...(typeof token.state === "string" ? { state: token.state } : {}) } } : {}),
  };
}

function isMilestone(n: number): boolean {
  return n >= 1 && 10 ** Math.round(Math.log10(n)) === n;
}

export interface RefusedRequest {
  method: string;
  pathname: string;
  /** The caller's actor, when the request named one; null: anonymous. */
  actor: Actor | null;
  address: string | null;
  userAgent: string | null;
  /** Came with an Authorization header (source "api") rather than from a browser. */
  bearer: boolean;
}

/**
 * Counts one refused mutation and writes its `auth.refused` event when the count is a power of ten
 * and the caps allow. Returns whether an event was written.
 */
export async function countRefusal(req: RefusedRequest, refusal: Refusal, now = new Date()): Promise<boolean> {
  const { route, target } = describeRoute(req.pathname);
  const routeKey = `${req.method} ${route}`;
  const anonymous = req.actor === null || req.actor.id === null;
  const key = {
    who: anonymous ? ANONYMOUS : `user:${req.actor!.id}`,
    address: req.address ?? "",
    route: routeKey,
    reason: refusal.reason,
    // An anonymous caller's typed target never makes a new row.
    target: anonymous ? "" : target,
  };
  const since = new Date(now.getTime() - WINDOW_MS);
  try {
    return await countInTransaction({ req, refusal, key, route, target, anonymous, since, now });
  } catch (e) {
    // Two first refusals of one key at once: the loser's row now exists; count it there.
    if ((e as { code?: unknown })?.code === "P2002" || /UNIQUE constraint failed/i.test(String((e as Error)?.message))) {
      return countInTransaction({ req, refusal, key, route, target, anonymous, since, now });
    }
    throw e;
  }
}

interface Counting {
  req: RefusedRequest;
  refusal: Refusal;
  key: { who: string; address: string; route: string; reason: string; target: string };
  route: string;
  target: string;
  anonymous: boolean;
  since: Date;
  now: Date;
}

async function countInTransaction({ req, refusal, key, route, target, anonymous, since, now }: Counting): Promise<boolean> {
  return getDb().$transaction(async (tx) => {
    await tx.refusedAttempt.deleteMany({ where: { lastAt: { lt: new Date(now.getTime() - STALE_MS) } } });
    const row = await tx.refusedAttempt.findUnique({ where: { who_address_route_reason_target: key } });
    let previousCount: number | undefined;
    let current;
    if (!row) {
      current = await tx.refusedAttempt.create({ data: { ...key, count: 1, events: 0, windowStart: now, lastAt: now } });
    } else if (row.windowStart <= since) {
      previousCount = row.count;
      current = await tx.refusedAttempt.update({ where: { id: row.id }, data: { count: 1, events: 0, windowStart: now, lastAt: now } });
    } else {
      current = await tx.refusedAttempt.update({ where: { id: row.id }, data: { count: { increment: 1 }, lastAt: now } });
    }
    if (!isMilestone(current.count)) return false;
    const inWindow = { windowStart: { gt: since } };
    const used = (await tx.refusedAttempt.aggregate({ _sum: { events: true }, where: { who: key.who, address: key.address, ...inWindow } }))._sum.events ?? 0;
    const limit = anonymous ? ANONYMOUS_ADDRESS_LIMIT : CALLER_LIMIT;
    if (used >= limit) return false;
    let capped = used + 1 === limit;
    if (anonymous) {
      const all = (await tx.refusedAttempt.aggregate({ _sum: { events: true }, where: { who: ANONYMOUS, ...inWindow } }))._sum.events ?? 0;
      if (all >= ANONYMOUS_TOTAL_LIMIT) return false;
      capped ||= all + 1 === ANONYMOUS_TOTAL_LIMIT;
    }
    await tx.refusedAttempt.update({ where: { id: current.id }, data: { events: { increment: 1 } } });
    const actor: Actor = req.actor ?? { id: null, name: ANONYMOUS, source: req.bearer ? "api" : "ui", role: "viewer", ip: req.address, userAgent: req.userAgent };
    await recordAudit(tx, { ...actor, ip: req.address, userAgent: req.userAgent }, "auth.refused", target || null, {
      method: req.method,
      route,
      status: refusal.status,
      code: refusal.code,
      reason: refusal.reason,
      message: refusal.message,
      ...(refusal.permission ? { permission: refusal.permission } : {}),
      ...(refusal.channel ? { channel: refusal.channel } : {}),
      ...(refusal.token ? { token: refusal.token } : {}),
      count: current.count,
      ...(previousCount ? { previousCount } : {}),
      ...(capped ? { capped: true } : {}),
    });
    return true;
  });
}

const UNAUTHENTICATED = new Set(["no-credentials", "token-unknown", "token-revoked", "token-expired", "user-disabled"]);

/**
 * Audits a refused API mutation (route() in lib/http.ts calls it for every error it answers):
 * who, from which address, which route, and why. Reads are not audited, nor next-auth's own routes
 * (failed sign-ins have their own bounded events). Never throws: auditing a refusal must not turn
 * it into a 500.
 */
export async function auditRefusal(request: Request, e: unknown): Promise<void> {
  try {
    if (request.method === "GET" || request.method === "HEAD" || request.method === "OPTIONS") return;
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith("/api/") || pathname.startsWith("/api/auth/")) return;
    const refusal = refusalOf(e);
    if (!refusal) return;
    let actor: Actor | null = callerOf(request)?.actor ?? null;
    // Refused before the guard ran (a body too large): find out who it was, if anyone.
    if (!actor && !UNAUTHENTICATED.has(refusal.reason)) {
      const caller = await apiCaller(request).catch(() => null);
      if (caller) actor = requestActor(request, caller.user, caller.source, caller.scope);
    }
    await countRefusal(
      {
        method: request.method,
        pathname,
        actor,
        address: clientAddress(request.headers),
        userAgent: request.headers.get("user-agent")?.slice(0, 300) ?? null,
        bearer: request.headers.has("authorization"),
      },
      refusal,
    );
  } catch (err) {
    console.error("[audit] recording a refused request failed:", err);
  }
}
