"use client";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import type { DeploymentJson } from "@/lib/deploy/deployment-types";
import { callApi } from "../../../_components/api-client";
import { CopyButton } from "../../../_components/copy-button";
import { Badge, formatUtc } from "../../../_components/ui";
import { DEPLOYMENT_TONE, TARGET_TONE } from "../status";

const ENDED = new Set(["succeeded", "failed", "partial", "cancelled", "interrupted"]);
const RETRYABLE = new Set(["failed", "skipped", "cancelled", "interrupted"]);

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 90 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function durationOf(start: string | null, end: string | null, now: number): number | null {
  if (!start) return null;
  return (end ? Date.parse(end) : now) - Date.parse(start);
}

/**
 * One deployment as it happens: the state streams from the server (read from the database there),
 * so a reload, a reconnect or a late viewer sees all of it.
 */
export function DeploymentLive({
  initial,
  cancelDenied,
  retryDenied,
  retriedAs,
  changesUrl,
}: {
  initial: DeploymentJson;
  cancelDenied: string | null;
  retryDenied: string | null;
  retriedAs: number | null;
  changesUrl: string | null;
}) {
  const router = useRouter();
  const [d, setD] = useState(initial);
  const [live, setLive] = useState<"connecting" | "live" | "reconnecting" | "polling" | "stopped" | "ended">(ENDED.has(initial.status) ? "ended" : "connecting");
  const [now, setNow] = useState(() => Date.now());
  const [actionError, setActionError] = useState<string | null>(null);
  const [acting, setActing] = useState(false);

  useEffect(() => {
    if (ENDED.has(initial.status)) return;
    const es = new EventSource(`/api/deployments/${initial.id}/events`);
    es.addEventListener("state", (e) => {
      setD(JSON.parse((e as MessageEvent<string>).data) as DeploymentJson);
      setLive("live");
    });
    es.addEventListener("end", () => {
      es.close();
      setLive("ended");
    });
    // The browser retries a dropped stream by itself; one it gave up on (401, 403, 404) is replaced by polling.
    let poll: ReturnType<typeof setInterval> | undefined;
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) return setLive((s) => (s === "ended" ? s : "reconnecting"));
      setLive((s) => (s === "ended" ? s : "polling"));
      poll ??= setInterval(() => {
        callApi<DeploymentJson>(`/api/deployments/${initial.id}`)
          .then((next) => {
            setD(next);
            if (ENDED.has(next.status)) {
              clearInterval(poll);
              setLive("ended");
            }
          })
          .catch(() => setLive("stopped"));
      }, 2000);
    };
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => {
      es.close();
      clearInterval(tick);
      clearInterval(poll);
    };
  }, [initial.id, initial.status]);

  const c = d.counts;
  const done = c.succeeded + c.failed + c.skipped + c.cancelled + c.interrupted;
  const finished = d.targets.filter((t) => t.startedAt && t.finishedAt && (t.status === "succeeded" || t.status === "failed"));
  const avg = finished.length ? finished.reduce((sum, t) => sum + durationOf(t.startedAt, t.finishedAt, now)!, 0) / finished.length : null;
  const remaining = c.pending + c.running;
  const eta = !ENDED.has(d.status) && avg !== null && remaining > 0 ? Math.ceil(remaining / Math.max(1, d.batchSize)) * avg : null;
  const pct = (n: number) => `${c.total ? (100 * n) / c.total : 0}%`;
  const canRetry = ENDED.has(d.status) && d.status !== "succeeded" && d.targets.some((t) => RETRYABLE.has(t.status));

  async function cancel() {
    setActing(true);
    setActionError(null);
    try {
      const r = await callApi<{ deployment: DeploymentJson }>(`/api/deployments/${d.id}/cancel`, { method: "POST", body: "{}" });
      // The stream may already have shown a newer state (or the end): never step back.
      if (r.deployment) setD((prev) => (ENDED.has(prev.status) ? prev : r.deployment));
    } catch (e) {
      setActionError((e as Error).message);
    } finally {
      setActing(false);
    }
  }

  async function retry() {
    setActing(true);
    setActionError(null);
    try {
      const r = await callApi<{ deployment: { id: number } }>(`/api/deployments/${d.id}/retry`, { method: "POST", body: "{}" });
      router.push(`/deployments/${r.deployment.id}`);
    } catch (e) {
      setActionError((e as Error).message);
      setActing(false);
    }
  }

  return (
    <div className="space-y-5">
      <section className="card p-4" aria-label="Summary">
        <div className="flex flex-wrap items-center gap-3">
          <Badge tone={DEPLOYMENT_TONE[d.status] ?? "slate"}>
            <span data-testid="deployment-status">{d.status}</span>
          </Badge>
          {d.cancelRequested && !ENDED.has(d.status) ? <Badge tone="amber">cancelling: running hosts finish</Badge> : null}
          {d.override ? <Badge tone="amber" title="An admin started it past the channel's gate or freeze">overridden by an admin</Badge> : null}
          <span className="text-sm text-slate-600 dark:text-slate-300" data-testid="progress-text">
            {done}/{c.total} hosts done · {c.succeeded} succeeded{c.failed ? ` · ${c.failed} failed` : ""}
            {c.skipped ? ` · ${c.skipped} skipped` : ""}
            {c.cancelled ? ` · ${c.cancelled} cancelled` : ""}
            {c.interrupted ? ` · ${c.interrupted} interrupted` : ""}
            {c.running ? ` · ${c.running} running` : ""}
          </span>
          {eta !== null ? <span className="text-sm text-slate-500">about {seconds(eta)} left</span> : null}
          <span className="ml-auto text-xs text-slate-500" aria-live="polite">
            {live === "live" ? "● live" : live === "reconnecting" ? "reconnecting…" : live === "connecting" ? "connecting…" : live === "polling" ? "live view lost; checking every 2 s" : live === "stopped" ? "live view stopped; reload the page" : ""}
          </span>
        </div>
        <div className="mt-3 flex h-2.5 overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800" role="progressbar" aria-valuemin={0} aria-valuemax={c.total} aria-valuenow={done} aria-label="Hosts done">
          <div className="bg-emerald-500" style={{ width: pct(c.succeeded) }} />
          <div className="bg-rose-500" style={{ width: pct(c.failed) }} />
          <div className="bg-amber-400" style={{ width: pct(c.interrupted) }} />
          <div className="bg-slate-400" style={{ width: pct(c.skipped + c.cancelled) }} />
          <div className="animate-pulse bg-indigo-400" style={{ width: pct(c.running) }} />
        </div>
        <dl className="mt-4 grid grid-cols-1 gap-x-6 gap-y-2 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-xs uppercase tracking-wide text-slate-500">{d.kind === "rollback" ? "Rolled back" : "Promoted"}</dt>
            <dd>
              <span className="mono break-all">{d.fromVersion ?? "—"}</span> → <span className="mono break-all">{d.version}</span> on{" "}
              <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href={`/channels/${d.channel}`}>
                {d.channel}
              </Link>
              {changesUrl ? (
                <>
                  {" · "}
                  <a className="text-indigo-600 hover:underline dark:text-indigo-400" href={changesUrl} target="_blank" rel="noreferrer" data-testid="changes-link">
                    changes since the version on this channel
                  </a>
                </>
              ) : null}
            </dd>
          </div>
          <div>
            <dt className="text-xs uppercase tracking-wide text-slate-500">By</dt>
            <dd>
              {d.actor} <span className="text-slate-500">({d.source})</span> · {formatUtc(d.createdAt)}
            </dd>
          </div>
          <div className="sm:col-span-2">
            <dt className="text-xs uppercase tracking-wide text-slate-500">Reason</dt>
            <dd className="break-words">{d.reason}</dd>
          </div>
          {d.error ? (
            <div className="sm:col-span-2">
              <dt className="text-xs uppercase tracking-wide text-slate-500">Result</dt>
              <dd data-testid="deployment-error">{d.error}</dd>
            </div>
          ) : null}
          {d.retryOf ? (
            <div>
              <dt className="text-xs uppercase tracking-wide text-slate-500">Retry of</dt>
              <dd>
                <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${d.retryOf}`}>
                  deployment {d.retryOf}
                </Link>
              </dd>
            </div>
          ) : null}
          <div className="sm:col-span-2">
            <dt className="text-xs uppercase tracking-wide text-slate-500">Server Admin Log line</dt>
            <dd className="flex items-start gap-2">
              <code className="mono break-all rounded bg-slate-100 px-2 py-1 dark:bg-slate-800" data-testid="sal-line">
                {d.salLine}
              </code>
              <CopyButton value={d.salLine} />
            </dd>
          </div>
        </dl>
        <div className="mt-4 flex flex-wrap items-center gap-2">
          {!ENDED.has(d.status) ? (
            <button type="button" className="btn-secondary" onClick={() => void cancel()} disabled={acting || cancelDenied !== null || d.cancelRequested} title={cancelDenied ?? "No new host starts; running hosts finish"} data-testid="cancel-button">
              {d.cancelRequested ? "Cancelling…" : "Cancel"}
            </button>
          ) : null}
          {retriedAs !== null ? (
            <Link className="text-sm text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${retriedAs}`} data-testid="retried-as">
              Retried as deployment {retriedAs}
            </Link>
          ) : null}
          {canRetry && retriedAs === null ? (
            <button type="button" className="btn-primary" onClick={() => void retry()} disabled={acting || retryDenied !== null} title={retryDenied ?? "A new deployment of this version to the hosts that did not get it"} data-testid="retry-button">
              Retry the {d.targets.filter((t) => RETRYABLE.has(t.status)).length} host(s) that did not get it
            </button>
          ) : null}
          {(cancelDenied && !ENDED.has(d.status)) || (retryDenied && canRetry) ? <span className="text-xs text-slate-500">{!ENDED.has(d.status) ? cancelDenied : retryDenied}</span> : null}
          {actionError ? (
            <span className="text-sm text-rose-600" role="alert">
              {actionError}
            </span>
          ) : null}
        </div>
      </section>

      {d.notifications.length > 0 ? (
        <section className="card" aria-label="Notifications">
          <h2 className="border-b border-slate-200 px-3 py-2 text-sm font-semibold dark:border-slate-800">Webhook notifications</h2>
          <div className="table-wrap">
            <table className="data" data-testid="notifications-table">
              <thead>
                <tr>
                  <th>Event</th>
                  <th>Receiver</th>
                  <th>State</th>
                  <th>Attempts</th>
                  <th>Last answer</th>
                </tr>
              </thead>
              <tbody>
                {d.notifications.map((n, i) => (
                  <tr key={i} data-testid="notification-row" data-status={n.status}>
                    <td className="whitespace-nowrap">{n.event}</td>
                    <td className="mono break-all">{n.url}</td>
                    <td>
                      <Badge tone={n.status === "delivered" ? "green" : n.status === "failed" ? "red" : "slate"}>{n.status}</Badge>
                    </td>
                    <td className="tabular-nums">{n.attempts}</td>
                    <td className="text-xs">{n.lastError ?? (n.lastStatus ? `HTTP ${n.lastStatus}` : "—")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      ) : null}

      <section className="card" aria-label="Hosts">
        <div className="table-wrap">
          <table className="data" data-testid="targets-table">
            <thead>
              <tr>
                <th>Batch</th>
                <th>Host</th>
                <th>From → to</th>
                <th>State</th>
                <th>Took</th>
                <th>Result</th>
              </tr>
            </thead>
            <tbody>
              {d.targets.map((t) => {
                const ms = durationOf(t.startedAt, t.finishedAt, now);
                return (
                  <tr key={t.host} data-testid="target-row" data-host={t.host} data-status={t.status}>
                    <td className="tabular-nums">{t.batch + 1}</td>
                    <td className="whitespace-nowrap">{t.host}</td>
                    <td className="mono min-w-48 break-all text-xs">
                      {t.fromVersion ?? "none"} → {t.toVersion}
                    </td>
                    <td>
                      <Badge tone={TARGET_TONE[t.status] ?? "slate"}>{t.status}</Badge>
                    </td>
                    <td className="whitespace-nowrap tabular-nums">{ms === null ? "—" : seconds(ms)}</td>
                    <td className="min-w-64">
                      {t.error ? <p className="text-rose-700 dark:text-rose-400">{t.error}</p> : null}
                      {t.reportedVersion && t.status !== "succeeded" ? <p className="text-xs text-slate-500">host reports {t.reportedVersion}</p> : null}
                      {t.output ? (
                        <details open={t.status === "running" || t.status === "failed"}>
                          <summary className="cursor-pointer text-xs text-indigo-600 dark:text-indigo-400">output{t.exitCode !== null ? ` (exit ${t.exitCode})` : ""}</summary>
                          <pre className="mt-1 max-h-64 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-950 p-2 text-xs text-slate-100" data-testid="target-output">
                            {t.output.length > 8000 ? `…${t.output.slice(-8000)}` : t.output}
                          </pre>
                        </details>
                      ) : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
