"use client";
// The hosts view kept current while the page is open: every few seconds (only while the tab is
// visible) it reads GET /api/hosts, far cheaper than rendering the page again, so hosts flip
// versions before the reader's eyes during a promotion.
import { useEffect, useState } from "react";
import { distributionOf } from "@/lib/fleet/distribution";
import type { HostView } from "@/lib/client-types";
import { VersionChart } from "../../_components/version-chart";
import { HostsTable } from "./hosts-table";

export const LIVE_HOSTS_MS = 5000;

export function HostsLive({ hosts: initial, renderedAt }: { hosts: HostView[]; renderedAt: string }) {
  const [view, setView] = useState({ hosts: initial, at: renderedAt });
  const [stale, setStale] = useState(false);

  // A newer server render (after a refresh button's router.refresh()) wins over what we hold.
  if (renderedAt > view.at) setView({ hosts: initial, at: renderedAt });

  useEffect(() => {
    let stopped = false;
    const tick = async () => {
      if (document.visibilityState !== "visible") return;
      try {
        const res = await fetch("/api/hosts", { cache: "no-store" });
        if (!res.ok) throw new Error(String(res.status));
        const body = (await res.json()) as { hosts: HostView[] };
        if (!stopped) {
          setView({ hosts: body.hosts, at: new Date().toISOString() });
          setStale(false);
        }
      } catch {
        if (!stopped) setStale(true);
      }
    };
    const timer = setInterval(tick, LIVE_HOSTS_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const drifting = view.hosts.filter((h) => h.drift).length;
  return (
    <div className="grid grid-cols-1 gap-5 lg:grid-cols-[1fr_18rem]">
      <div className="min-w-0 space-y-3">
        {drifting ? (
          <p className="text-sm text-amber-800 dark:text-amber-300" role="status">
            {drifting} host{drifting === 1 ? " runs" : "s run"} a version other than its channel&apos;s.
          </p>
        ) : null}
        {stale ? (
          <p className="text-sm text-slate-500 dark:text-slate-400" role="status">
            Could not update the view just now; it shows what was read at {new Date(view.at).toLocaleTimeString()}.
          </p>
        ) : null}
        <HostsTable hosts={view.hosts} renderedAt={view.at} />
      </div>
      <VersionChart entries={distributionOf(view.hosts)} />
    </div>
  );
}
