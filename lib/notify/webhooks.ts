import "server-only";
import { createHmac } from "node:crypto";
import type { AppConfig, WebhookConfig } from "../config-schema";
import { getDb } from "../db";
import { displayUrl } from "./url";

// Webhook messages about deployments. A message is written to the database first (so it survives a
// restart and any process may send it), then sent in the background: a receiver that is down, slow
// or failing never blocks, slows or fails a deployment. Each attempt's outcome is recorded.

export type WebhookEvent = "deployment.start" | "deployment.finish";

/** Sent as `X-Scap-Channels-Signature: sha256=<hex>` over the exact body when a secret is set. */
export const SIGNATURE_HEADER = "x-scap-channels-signature";

const CLAIM_MS = 60_000;
const MAX_ERROR_CHARS = 300;

export interface WebhookMessage {
  event: WebhookEvent;
  text: string;
  deployment: {
    id: number;
    kind: string;
    channel: string;
    version: string;
    fromVersion: string | null;
    status: string;
    actor: string;
    reason: string;
    salLine: string;
    url: string | null;
    hosts: { total: number; succeeded: number; failed: number };
  };
  at: string;
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

function publicLink(id: number): string | null {
  const base = process.env.NEXTAUTH_URL;
  if (!base) return null;
  try {
    return new URL(`/deployments/${id}`, base).toString();
  } catch {
    return null;
  }
}

async function messageFor(id: number, event: WebhookEvent): Promise<WebhookMessage | null> {
  const d = await getDb().deployment.findUnique({ where: { id }, include: { channel: { select: { name: true } }, targets: { select: { status: true } } } });
  if (!d) return null;
  const hosts = { total: d.targets.length, succeeded: d.targets.filter((t) => t.status === "succeeded").length, failed: d.targets.filter((t) => t.status === "failed").length };
  const text =
    event === "deployment.start"
      ? d.salLine
      : `${d.actorName}'s ${d.kind === "rollback" ? "rollback" : "promotion"} of ${d.version} on ${d.channel.name} ${d.status}: ${hosts.succeeded}/${hosts.total} hosts${hosts.failed ? `, ${hosts.failed} failed` : ""}`;
  return {
    event,
    text,
    deployment: { id: d.id, kind: d.kind, channel: d.channel.name, version: d.version, fromVersion: d.fromVersion, status: d.status, actor: d.actorName, reason: d.reason, salLine: d.salLine, url: publicLink(d.id), hosts },
    at: new Date().toISOString(),
  };
}

/**
 * Records one message per configured webhook that wants `event`, then sends them in the
 * background. Never throws: a failure to record is logged and the deployment goes on.
 */
export async function notifyDeployment(config: AppConfig, id: number, event: WebhookEvent): Promise<void> {
  const hooks = config.notifications.webhooks.filter((w) => w.events.includes(event));
  if (hooks.length === 0) return;
  try {
    const message = await messageFor(id, event);
    if (!message) return;
    const body = JSON.stringify(message);
    await getDb().webhookDelivery.createMany({ data: hooks.map((w) => ({ deploymentId: id, event, url: w.url, body })) });
    void deliverPending(config);
  } catch (e) {
    console.error(`notify: recording the ${event} message of deployment ${id} failed`, e);
  }
}

const running = globalThis as unknown as { scapWebhookSender?: Promise<void> | null; scapWebhookAgain?: boolean };

/**
 * Sends every due message (pending, its next attempt due, not claimed by another process). One
 * sender per process at a time; a call while it runs makes it look again before it stops.
 */
export function deliverPending(config: AppConfig): Promise<void> {
  if (running.scapWebhookSender) {
    running.scapWebhookAgain = true;
    return running.scapWebhookSender;
  }
  const run = (async () => {
    do {
      running.scapWebhookAgain = false;
      await sendDue(config);
    } while (running.scapWebhookAgain);
  })()
    .catch((e: unknown) => console.error("notify: sending webhooks failed", e))
    .finally(() => {
      running.scapWebhookSender = null;
    });
  running.scapWebhookSender = run;
  return run;
}

async function sendDue(config: AppConfig): Promise<void> {
  const db = getDb();
  const now = new Date();
  const due = await db.webhookDelivery.findMany({
    where: { OR: [{ status: "pending", nextAttemptAt: { lte: now } }, { status: "sending", claimedUntil: { lt: now } }] },
    orderBy: { id: "asc" },
    take: 50,
  });
  await Promise.all(
    due.map(async (row) => {
      // Claimed with a conditional write: another process that saw the same row gets count 0.
      const claimed = await db.webhookDelivery.updateMany({
        where: { id: row.id, status: row.status, attempts: row.attempts },
        data: { status: "sending", claimedUntil: new Date(Date.now() + CLAIM_MS) },
      });
      if (claimed.count === 0) return;
      const hook = config.notifications.webhooks.find((w) => w.url === row.url);
      const outcome = hook ? await send(hook, row.id, row.event, row.body) : { ok: false, status: null, error: "this webhook is no longer configured" };
      const attempts = row.attempts + 1;
      const retriesLeft = hook ? attempts <= hook.retries : false;
      await db.webhookDelivery.update({
        where: { id: row.id },
        data: outcome.ok
          ? { status: "delivered", attempts, lastStatus: outcome.status, lastError: null, deliveredAt: new Date(), claimedUntil: null }
          : {
              status: retriesLeft ? "pending" : "failed",
              attempts,
              lastStatus: outcome.status,
              lastError: outcome.error,
              claimedUntil: null,
              nextAttemptAt: new Date(Date.now() + (hook ? hook.retryDelaySeconds * 1000 * 2 ** (attempts - 1) : 0)),
            },
      });
      if (!outcome.ok && retriesLeft) scheduleRetry(config, hook!.retryDelaySeconds * 1000 * 2 ** (attempts - 1));
    }),
  );
}

function scheduleRetry(config: AppConfig, ms: number) {
  const t = setTimeout(() => void deliverPending(config), ms + 50);
  t.unref();
}

async function send(hook: WebhookConfig, id: number, event: string, body: string): Promise<{ ok: boolean; status: number | null; error: string | null }> {
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "scap-channels", "x-scap-channels-event": event, "x-scap-channels-delivery": String(id) };
  if (hook.secretEnv) {
    const secret = process.env[hook.secretEnv];
    if (!secret) return { ok: false, status: null, error: `the environment variable ${hook.secretEnv} that holds this webhook's secret is not set` };
    headers[SIGNATURE_HEADER] = signBody(secret, body);
  }
  try {
    const res = await fetch(hook.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(hook.timeoutSeconds * 1000) });
    // The receiver's answer is not kept: only its status.
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, error: null };
    return { ok: false, status: res.status, error: `the receiver answered ${res.status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const message =
      err.name === "TimeoutError" ? `no answer within ${hook.timeoutSeconds}s` : err.cause?.code ? `cannot reach ${displayUrl(hook.url)} (${err.cause.code})` : `sending failed: ${err.message}`;
    return { ok: false, status: null, error: message.slice(0, MAX_ERROR_CHARS) };
  }
}

const timerSlot = globalThis as unknown as { scapWebhookTimer?: NodeJS.Timeout };

/** Picks up messages left by a restart or another process, every `everyMs`. */
export function startWebhookTimer(getConfig: () => AppConfig | null, everyMs = 15_000): () => void {
  clearInterval(timerSlot.scapWebhookTimer);
  const timer = setInterval(() => {
    const config = getConfig();
    if (config && config.notifications.webhooks.length > 0) void deliverPending(config);
  }, everyMs);
  timer.unref();
  timerSlot.scapWebhookTimer = timer;
  return () => clearInterval(timer);
}
