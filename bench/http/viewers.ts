// One promotion through the API, optionally watched by live viewers: each deployment viewer reads
// the server-sent event stream to its `end`; each /hosts viewer loads the page once and then reads
// GET /api/hosts every 5 s, as the open page does (app/(app)/hosts/hosts-live.tsx). The time is from the promote request until the deployment reads
// as ended (polled every 100 ms, the same way watched or not).
import type { RunningApp } from "./app";

const ENDED = new Set(["succeeded", "failed", "partial", "cancelled", "interrupted"]);
const HOSTS_RELOAD_MS = 5000;
const MAX_PROMOTION_MS = 300_000;

export interface PromotionRun {
  ms: number;
  status: string;
  viewers: number;
  /** Viewer requests that failed: a network error, a non-2xx answer, a stream that ended without `end`. */
  errors: number;
  /** Viewers (of both kinds) whose last view showed the ended deployment on every host. */
  sawFinal: number;
}

async function streamViewer(app: RunningApp, id: number, signal: AbortSignal): Promise<{ ok: boolean; finalStatus: string | null }> {
  const res = await fetch(`${app.url}/api/deployments/${id}/events`, { headers: { authorization: `Bearer ${app.token}` }, signal });
  if (!res.ok || !res.body) return { ok: false, finalStatus: null };
  const decoder = new TextDecoder();
  let buffer = "";
  let lastState: string | null = null;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const message = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(message)?.[1];
      const data = /^data: (.*)$/m.exec(message)?.[1];
      if (event === "state" && data) lastState = (JSON.parse(data) as { status: string }).status;
      if (event === "end") return { ok: true, finalStatus: lastState };
      if (event === "error") return { ok: false, finalStatus: lastState };
    }
  }
  return { ok: false, finalStatus: lastState };
}

async function hostsViewer(app: RunningApp, done: () => boolean, version: string, signal: AbortSignal): Promise<{ errors: number; sawFinal: boolean }> {
  let errors = 0;
  let path = "/hosts";
  const get = async () => {
    try {
      const res = await fetch(`${app.url}${path}`, { headers: { cookie: app.cookie }, signal });
      path = "/api/hosts";
      const html = await res.text();
      if (!res.ok) errors++;
      return html;
    } catch {
      errors++;
      return "";
    }
  };
  while (!done() && !signal.aborted) {
    await get();
    await new Promise((r) => setTimeout(r, HOSTS_RELOAD_MS));
  }
  const last = await get();
  return { errors, sawFinal: last.includes(version) };
}

export async function watchPromotion(app: RunningApp, o: { version: string; viewers: number; hosts: number }): Promise<PromotionRun> {
  const auth = { authorization: `Bearer ${app.token}` };
  const t0 = performance.now();
  const res = await fetch(`${app.url}/api/channels/beta/promote`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ version: o.version, reason: "bench: live viewers" }),
  });
  if (res.status !== 202) throw new Error(`promote to ${o.version} answered ${res.status}: ${await res.text()}`);
  const id = ((await res.json()) as { deployment: { id: number } }).deployment.id;
  const abort = new AbortController();
  let ended = false;
  const streams = Array.from({ length: o.viewers }, () => streamViewer(app, id, abort.signal).catch(() => ({ ok: false, finalStatus: null })));
  const pages = Array.from({ length: o.viewers }, () => hostsViewer(app, () => ended, o.version, abort.signal));
  let status = "";
  let ms = NaN;
  const killer = setTimeout(() => abort.abort(), MAX_PROMOTION_MS + 60_000);
  try {
    while (performance.now() - t0 < MAX_PROMOTION_MS) {
      const d = (await (await fetch(`${app.url}/api/deployments/${id}`, { headers: auth })).json()) as { status: string };
      if (ENDED.has(d.status)) {
        ms = performance.now() - t0;
        status = d.status;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    ended = true;
    if (!status) throw new Error(`deployment ${id} did not end within ${MAX_PROMOTION_MS / 1000} s`);
    const s = await Promise.all(streams);
    const p = await Promise.all(pages);
    return {
      ms,
      status,
      viewers: o.viewers,
      errors: s.filter((r) => !r.ok).length + p.reduce((a, r) => a + r.errors, 0),
      sawFinal: s.filter((r) => r.ok && r.finalStatus === status).length + p.filter((r) => r.sawFinal).length,
    };
  } finally {
    ended = true;
    clearTimeout(killer);
    abort.abort();
  }
}
