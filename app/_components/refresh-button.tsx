"use client";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, useTransition } from "react";
import type { ProbeView } from "@/lib/client-types";
import { callApi } from "./api-client";

interface BuildsRefreshResult {
  outcome: { ok: boolean; status?: string; added?: string[]; removed?: string[]; errorKind?: string; error?: string };
}
interface HostsRefreshResult {
  probe: ProbeView | null;
  hosts: { status: string }[];
}

function describeBuilds(r: BuildsRefreshResult): { text: string; error: boolean } {
  const o = r.outcome;
  // The repository status box shows the full error; here only what happened.
  if (!o.ok) return { text: `Read failed (${o.errorKind ?? "error"}); the last verified list is kept.`, error: true };
  if (o.status === "unchanged") return { text: "Repository unchanged.", error: false };
  const parts = [o.added?.length ? `${o.added.length} new` : "", o.removed?.length ? `${o.removed.length} left the index` : ""].filter(Boolean);
  return { text: parts.length ? `Verified: ${parts.join(", ")}.` : "Verified; no change in builds.", error: false };
}

function describeHosts(r: HostsRefreshResult): { text: string; error: boolean } {
  const bad = r.hosts.filter((h) => h.status === "unreachable" || h.status === "unknown").length;
  return { text: `Probed ${r.hosts.length} hosts${bad ? `, ${bad} could not be read` : ""}.`, error: false };
}

/**
 * Refreshes builds or hosts through the JSON API, shows the outcome next to the button, then
 * re-renders the page. A host refresh shows how many hosts have answered while it runs.
 */
export function RefreshButton({ kind, disabledReason, initialProbe }: { kind: "builds" | "hosts"; disabledReason: string | null; initialProbe?: ProbeView | null }) {
  const router = useRouter();
  const [busy, setBusy] = useState(Boolean(initialProbe?.running));
  const [progress, setProgress] = useState<ProbeView | null>(initialProbe?.running ? initialProbe : null);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [, startTransition] = useTransition();
  const requestPending = useRef(false);

  useEffect(() => {
    if (kind !== "hosts" || !busy) return;
    const timer = setInterval(() => {
      callApi<{ probe: ProbeView | null }>("/api/hosts")
        .then((r) => {
          setProgress(r.probe);
          // A probe started elsewhere (another person, the timer) has finished: show its result.
          if (!r.probe?.running && !requestPending.current) {
            setBusy(false);
            setProgress(null);
            startTransition(() => router.refresh());
          }
        })
        .catch(() => {});
    }, 700);
    return () => clearInterval(timer);
  }, [kind, busy, router]);

  async function run() {
    setBusy(true);
    setMessage(null);
    requestPending.current = true;
    try {
      if (kind === "builds") setMessage(describeBuilds(await callApi<BuildsRefreshResult>("/api/builds/refresh", { method: "POST", body: "{}" })));
      else setMessage(describeHosts(await callApi<HostsRefreshResult>("/api/hosts/refresh", { method: "POST", body: "{}" })));
    } catch (e) {
      setMessage({ text: (e as Error).message, error: true });
    } finally {
      requestPending.current = false;
      setBusy(false);
      setProgress(null);
      startTransition(() => router.refresh());
    }
  }

  const label = kind === "builds" ? "Refresh builds" : "Refresh hosts";
  const busyLabel = progress && progress.total > 0 ? `Probing… ${progress.done}/${progress.total}` : "Refreshing…";
  return (
    <span className="inline-flex flex-wrap items-center justify-end gap-2">
      {message ? (
        <span role="status" data-testid={`${kind}-refresh-result`} className={`text-sm ${message.error ? "text-rose-600 dark:text-rose-400" : "text-slate-500 dark:text-slate-400"}`}>
          {message.text}
        </span>
      ) : null}
      <button type="button" className="btn-primary" onClick={() => void run()} disabled={busy || disabledReason !== null} title={disabledReason ?? undefined}>
        {busy ? busyLabel : label}
      </button>
    </span>
  );
}
