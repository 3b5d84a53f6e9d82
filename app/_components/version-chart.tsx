import type { DistributionEntry } from "@/lib/client-types";

const STATUS_LABEL: Record<string, string> = {
  "not-installed": "not installed",
  unreachable: "unreachable",
  unknown: "unknown",
};

/** Horizontal bars: how many hosts run each version (and how many could not be read). */
export function VersionChart({ entries, title = "Versions across hosts" }: { entries: DistributionEntry[]; title?: string }) {
  const total = entries.reduce((n, e) => n + e.hosts, 0);
  return (
    <figure className="card p-4" aria-label={title}>
      <figcaption className="mb-3 text-sm font-semibold">{title}</figcaption>
      {total === 0 ? (
        <p className="text-sm text-slate-500">No host has been probed yet.</p>
      ) : (
        <ul className="space-y-2">
          {entries.map((e) => {
            const label = e.status === "ok" ? e.version : STATUS_LABEL[e.status] ?? e.status;
            const pct = Math.max(2, Math.round((e.hosts / total) * 100));
            const color = e.status === "ok" ? "bg-indigo-500" : e.status === "not-installed" ? "bg-slate-400" : "bg-rose-500";
            return (
              <li key={`${e.status}:${e.version}`} className="text-sm" data-testid="version-bar">
                <div className="mb-0.5 flex justify-between gap-3">
                  <span className={`truncate ${e.status === "ok" ? "mono" : "italic text-slate-500"}`} title={label ?? undefined}>
                    {label}
                  </span>
                  <span className="shrink-0 tabular-nums text-slate-500">
                    {e.hosts} host{e.hosts === 1 ? "" : "s"}
                  </span>
                </div>
                <div className="h-2 rounded bg-slate-100 dark:bg-slate-800">
                  <div className={`h-2 rounded ${color}`} style={{ width: `${pct}%` }} />
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </figure>
  );
}
