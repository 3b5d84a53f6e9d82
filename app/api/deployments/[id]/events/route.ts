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
const ENDED = new Set(["succeeded", "failed", "partial", "cancelled", "interrupted"]);

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
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (event: string, data: string) => {
        if (!closed) controller.enqueue(encoder.encode(`event: ${event}\ndata: ${data}\n\n`));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        try {
          controller.close();
        } catch {
          // Already closed by the client.
        }
      };
      request.signal.addEventListener("abort", close, { once: true });
      let last = "";
      let lastSentAt = Date.now();
      let current = first;
      let endedAt: number | null = null;
      const openedAt = Date.now();
      let stalledSince: number | null = null;
      try {
        for (;;) {
          const text = JSON.stringify(deploymentJson(current));
          if (text !== last) {
            send("state", text);
            last = text;
            lastSentAt = Date.now();
          } else if (Date.now() - lastSentAt > KEEPALIVE_MS) {
            if (!closed) controller.enqueue(encoder.encode(": keepalive\n\n"));
            lastSentAt = Date.now();
          }
          if (ENDED.has(current.status)) {
            // Its webhook messages settle after it ends; follow them a while longer.
            endedAt ??= Date.now();
            const sending = current.notifications.some((n) => n.status === "pending" || n.status === "sending");
            if (!sending || Date.now() - endedAt > NOTIFICATIONS_GRACE_MS) {
              send("end", JSON.stringify({ status: current.status }));
              break;
            }
          }
          await new Promise((r) => setTimeout(r, POLL_MS));
          if (closed) break;
          if (Date.now() - openedAt > MAX_STREAM_MS) break;
          if ((controller.desiredSize ?? 1) <= 0) {
            stalledSince ??= Date.now();
            if (Date.now() - stalledSince > STALLED_MS) break;
            continue;
          }
          stalledSince = null;
          const next = await getDeployment(id);
          if (!next) break;
          current = next;
        }
      } catch (e) {
        console.error(`[api] deployment ${id} event stream failed`, e);
        send("error", JSON.stringify({ message: "The live view lost the database; reload the page." }));
      }
      close();
    },
    cancel() {
      closed = true;
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store, no-transform", connection: "keep-alive", "x-accel-buffering": "no" },
  });
});
