import { requireApiPermission } from "@/lib/auth/guard";
import { deploymentIdSchema } from "@/lib/deploy/input";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { AppError } from "@/lib/errors";
import { route } from "@/lib/http";

export const dynamic = "force-dynamic";

const POLL_MS = 500;
const KEEPALIVE_MS = 15_000;
const NOTIFICATIONS_GRACE_MS = 90_000;
// A stream ends after this long and the browser reconnects, which checks the viewer's session again.
const MAX_STREAM_MS = 5 * 60_000;
// A client that reads nothing for this long is dropped rather than queued for.
const STALLED_MS = 30_000;
// How often each stream checks its own clock (keepalive, grace, stall, age): no database read.
const TICK_MS = 1000;
const ENDED = new Set(["succeeded", "failed", "partial", "cancelled", "interrupted"]);

/** What a stream sends: the deployment as JSON, with the two facts the stream decides on. */
interface Snapshot {
  text: string;
  status: string;
  sending: boolean;
}
type Update = { snapshot: Snapshot } | { gone: true } | { failed: true };
type Listener = (u: Update) => void;

interface Watch {
  listeners: Set<Listener>;
  latest: Snapshot | null;
}

function snapshotOf(d: NonNullable<Awaited<ReturnType<typeof getDeployment>>>): Snapshot {
  return { text: JSON.stringify(deploymentJson(d)), status: d.status, sending: d.notifications.some((n) => n.status === "pending" || n.status === "sending") };
}

// One reader per deployment per process, however many people watch it: each poll reads the
// deployment once and hands a changed state to every stream (200 viewers polling for themselves
// read it 400 times a second and slowed the run they watched).
const globalForWatches = globalThis as unknown as { scapDeploymentWatches?: Map<number, Watch> };
const watches = (globalForWatches.scapDeploymentWatches ??= new Map<number, Watch>());

function watch(id: number, first: Snapshot, listener: Listener): () => void {
  let w = watches.get(id);
  if (!w) {
    const created: Watch = { listeners: new Set(), latest: first };
    watches.set(id, created);
    w = created;
    void (async () => {
      try {
        for (;;) {
          await new Promise((r) => setTimeout(r, POLL_MS));
          if (created.listeners.size === 0) break;
          const next = await getDeployment(id);
          if (!next) {
            for (const l of created.listeners) l({ gone: true });
            break;
          }
          const s = snapshotOf(next);
          if (s.text !== created.latest?.text) {
            created.latest = s;
            for (const l of created.listeners) l({ snapshot: s });
          }
        }
      } catch (e) {
        console.error(`[api] deployment ${id} event stream failed`, e);
        for (const l of created.listeners) l({ failed: true });
      } finally {
        if (watches.get(id) === created) watches.delete(id);
      }
    })();
  }
  // A late viewer's own first read is at least as new as the reader's last one: it starts from that.
  w.listeners.add(listener);
  const own = w;
  return () => {
    own.listeners.delete(listener);
  };
}

/**
 * Server-sent events of one deployment's state, read from the database (so it shows a runner in any
 * process): a `state` event with the whole deployment whenever it changed, `end` once it has ended.
 * A reconnecting or late viewer gets the full state first.
 */
export const GET = route(async (request, { params }: { params: Promise<{ id: string }> }) => {
  await requireApiPermission(request, "deployments.read");
  const id = deploymentIdSchema.parse((await params).id);
  const first = await getDeployment(id);
  if (!first) throw new AppError("NOT_FOUND", `No deployment ${id}.`);

  const encoder = new TextEncoder();
  let closed = false;
  let stop = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const openedAt = Date.now();
      let lastText = "";
      let lastSentAt = Date.now();
      let current = snapshotOf(first);
      let pending: Snapshot | null = current;
      let endedAt: number | null = null;
      let stalledSince: number | null = null;
      let unwatch = () => {};
      let tick: ReturnType<typeof setInterval> | undefined = undefined;
      const enqueue = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(tick);
        unwatch();
        try {
          controller.close();
        } catch {
          // Already closed by the client.
        }
      };
      stop = close;
      // Sends the newest state unless the client is behind (then the next one replaces it), and the end once it has ended.
      const flush = () => {
        if (closed) return;
        if ((controller.desiredSize ?? 1) <= 0) {
          stalledSince ??= Date.now();
          if (Date.now() - stalledSince > STALLED_MS) close();
          return;
        }
        stalledSince = null;
        if (pending && pending.text !== lastText) {
          enqueue(`event: state\ndata: ${pending.text}\n\n`);
          lastText = pending.text;
          lastSentAt = Date.now();
        }
        pending = null;
        if (ENDED.has(current.status)) {
          // Its webhook messages settle after it ends; follow them a while longer.
          endedAt ??= Date.now();
          if (!current.sending || Date.now() - endedAt > NOTIFICATIONS_GRACE_MS) {
            enqueue(`event: end\ndata: ${JSON.stringify({ status: current.status })}\n\n`);
            close();
          }
        }
      };
      request.signal.addEventListener("abort", close, { once: true });
      flush();
      if (closed) return;
      unwatch = watch(id, current, (u) => {
        if ("snapshot" in u) {
          current = u.snapshot;
          pending = u.snapshot;
          flush();
        } else if ("gone" in u) close();
        else {
          enqueue(`event: error\ndata: ${JSON.stringify({ message: "The live view lost the database; reload the page." })}\n\n`);
          close();
        }
      });
      tick = setInterval(() => {
        if (Date.now() - openedAt > MAX_STREAM_MS) return close();
        flush();
        if (!closed && Date.now() - lastSentAt > KEEPALIVE_MS && (controller.desiredSize ?? 1) > 0) {
          enqueue(": keepalive\n\n");
          lastSentAt = Date.now();
        }
      }, TICK_MS);
    },
    cancel() {
      stop();
      closed = true;
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store, no-transform", connection: "keep-alive", "x-accel-buffering": "no" },
  });
});
