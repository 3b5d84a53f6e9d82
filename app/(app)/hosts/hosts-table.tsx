"use client";
import { useEffect, useMemo, useState } from "react";
import { compareVersions } from "@/lib/apt/version";
import type { HostStatus, HostView } from "@/lib/client-types";
import { formatUtc, relativeTime } from "../../_components/ui";

type SortKey = "name" | "version" | "status" | "observedAt";

const STATUS_STYLE: Record<HostStatus, string> = {
  ok: "text-emerald-700 dark:text-emerald-400",
  "not-installed": "text-slate-500",
  unreachable: "text-rose-600 dark:text-rose-400",
  unknown: "text-amber-700 dark:text-amber-400",
};

// One collator for every comparison: localeCompare with options builds a new one per call.
const byName = new Intl.Collator(undefined, { numeric: true }).compare;

function compareHosts(a: HostView, b: HostView, key: SortKey): number {
  switch (key) {
    case "version":
      if (a.version && b.version) return compareVersions(a.version, b.version);
      return a.version ? 1 : b.version ? -1 : 0;
    case "status":
      return a.status.localeCompare(b.status);
    case "observedAt":
      return (a.observedAt ?? "").localeCompare(b.observedAt ?? "");
    default:
      return byName(a.name, b.name);
  }
}

/** Rows rendered before "Show all": a fleet of 1,000 rendered whole made the page cost ten times a small one's. */
const FIRST_ROWS = 100;

export function HostsTable({ hosts, renderedAt }: { hosts: HostView[]; renderedAt: string }) {
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState<"" | HostStatus | "drift">("");
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: "name", desc: false });
  const [all, setAll] = useState(hosts.length <= FIRST_ROWS);
  const now = new Date(renderedAt);

  const [linked, setLinked] = useState<string | null>(null);

  // A link to one host's row (/hosts#host-NAME, from the audit log) shows every row and scrolls to it.
  useEffect(() => {
    const reveal = () => {
      if (!location.hash.startsWith("#host-")) return;
      setLinked(decodeURIComponent(location.hash.slice(1)));
      setAll(true);
    };
    const frame = requestAnimationFrame(reveal);
    addEventListener("hashchange", reveal);
    return () => {
      cancelAnimationFrame(frame);
      removeEventListener("hashchange", reveal);
    };
  }, []);
  useEffect(() => {
    if (linked && all) document.getElementById(linked)?.scrollIntoView();
  }, [linked, all]);

  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase();
    return hosts
      .filter((h) => (status === "drift" ? h.drift !== null || h.offMajority : !status || h.status === status))
      .filter((h) => !q || [h.name, h.address, h.version ?? h.lastKnown?.version ?? "", ...h.channels].some((s) => s.toLowerCase().includes(q)))
      .sort((a, b) => (sort.desc ? -1 : 1) * compareHosts(a, b, sort.key));
  }, [hosts, filter, status, sort]);
  const rows = all ? shown : shown.slice(0, FIRST_ROWS);

  function header(key: SortKey, label: string) {
    const active = sort.key === key;
    return (
      <th aria-sort={active ? (sort.desc ? "descending" : "ascending") : "none"}>
        <button type="button" className="inline-flex items-center gap-1 uppercase" onClick={() => setSort({ key, desc: active ? !sort.desc : false })}>
          {label}
          <span aria-hidden className={active ? "" : "opacity-0"}>
            {sort.desc ? "▾" : "▴"}
          </span>
        </button>
      </th>
    );
  }

  return (
    <div className="card">
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
        <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Filter by host, address, version, channel" aria-label="Filter hosts" className="input w-full sm:w-72" />
        <select value={status} onChange={(e) => setStatus(e.target.value as typeof status)} aria-label="Show" className="input">
          <option value="">All statuses</option>
          <option value="drift">Drifting</option>
          <option value="ok">ok</option>
          <option value="not-installed">not installed</option>
          <option value="unreachable">unreachable</option>
          <option value="unknown">unknown</option>
        </select>
        <span className="ml-auto text-xs text-slate-500">
          {shown.length === hosts.length ? `${hosts.length} hosts` : `${shown.length} of ${hosts.length} hosts`}
        </span>
      </div>
      <div className="table-wrap">
        <table className="data" data-testid="hosts-table">
          <thead>
            <tr>
              {header("name", "Host")}
              <th>Channels</th>
              {header("version", "Version")}
              {header("status", "Status")}
              {header("observedAt", "Observed")}
              <th>Notes</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((h) => (
              <tr key={h.name} id={`host-${h.name}`} data-testid="host-row" data-host={h.name} className={h.drift || h.offMajority ? "bg-amber-50/60 dark:bg-amber-500/5" : ""}>
                <td>
                  <div className="font-medium">{h.name}</div>
                  <div className="mono text-xs text-slate-500">
                    {h.address}
                    {h.port !== 22 ? `:${h.port}` : ""}
                  </div>
                </td>
                <td>
                  <div className="flex flex-wrap gap-1">
                    {h.channels.map((c) => (
                      <span key={c} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs dark:bg-slate-800">
                        {c}
                      </span>
                    ))}
                  </div>
                </td>
                <td className="mono min-w-44 break-all">
                  <span data-testid="host-version">{h.version ?? "—"}</span>
                  {h.lastKnown && h.status !== "ok" && h.status !== "not-installed" ? (
                    <div className="font-sans text-xs text-slate-500" data-testid="host-last-known">
                      last seen {h.lastKnown.status === "ok" ? <>running <span className="mono">{h.lastKnown.version}</span></> : "without the package"},{" "}
                      <time dateTime={h.lastKnown.observedAt} title={formatUtc(h.lastKnown.observedAt)}>
                        {relativeTime(new Date(h.lastKnown.observedAt), now)}
                      </time>
                    </div>
                  ) : null}
                </td>
                <td className={`whitespace-nowrap font-medium ${STATUS_STYLE[h.status]}`} data-testid="host-status">
                  {h.status}
                </td>
                <td className="whitespace-nowrap">
                  {h.observedAt ? (
                    <time dateTime={h.observedAt} title={formatUtc(h.observedAt)}>
                      {relativeTime(new Date(h.observedAt), now)}
                    </time>
                  ) : (
                    <span className="text-slate-400">never</span>
                  )}
                </td>
                <td className="min-w-56 text-sm">
                  {h.drift ? (
                    <p className="font-medium text-amber-800 dark:text-amber-300" data-testid="host-drift">
                      Drift: channel {h.drift.channel} is on <span className="mono">{h.drift.expected}</span>
                    </p>
                  ) : null}
                  {h.offMajority && !h.drift ? <p className="text-amber-800 dark:text-amber-300">Differs from most hosts</p> : null}
                  {h.error ? (
                    <p className="max-w-md break-words text-rose-700 dark:text-rose-300" title={h.errorKind ?? undefined}>
                      {h.error}
                    </p>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length < shown.length ? (
        <div className="border-t border-slate-200 px-3 py-2 text-sm dark:border-slate-800">
          <button type="button" className="btn-secondary" onClick={() => setAll(true)} data-testid="hosts-show-all">
            Show all {shown.length} hosts
          </button>{" "}
          <span className="text-slate-500">(the first {rows.length} are shown; the filter searches all of them)</span>
        </div>
      ) : null}
      {shown.length === 0 ? <p className="px-3 py-6 text-center text-sm text-slate-500">No host matches.</p> : null}
    </div>
  );
}
