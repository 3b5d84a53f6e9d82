"use client";
import { useMemo, useState } from "react";
import type { BuildView } from "@/lib/client-types";
import { CopyButton } from "../../_components/copy-button";
import { DeployButton } from "../../_components/deploy-dialog";
import { formatBytes, formatUtc } from "../../_components/ui";

/** Per build version: each channel, and why promoting the build there is greyed (null: allowed). */
export type PromoteOptions = Record<string, { channel: string; reason: string | null }[]>;

export function BuildsTable({ builds, promote, canOverride }: { builds: BuildView[]; promote: PromoteOptions; canOverride: boolean }) {
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase();
    if (!q) return builds;
    return builds.filter((b) => [b.version, b.sha256, b.gitCommit ?? "", ...b.channels].some((s) => s.toLowerCase().includes(q)));
  }, [builds, filter]);

  return (
    <div className="card">
      <div className="flex flex-wrap items-center justify-between gap-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
        <input
          type="search"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          placeholder="Filter by version, commit, SHA256, channel"
          aria-label="Filter builds"
          className="input w-full sm:w-80"
        />
        <span className="text-xs text-slate-500" data-testid="builds-count">
          {shown.length === builds.length ? `${builds.length} builds` : `${shown.length} of ${builds.length} builds`}
        </span>
      </div>
      <div className="table-wrap">
        <table className="data" data-testid="builds-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Built</th>
              <th>Commit</th>
              <th>Size</th>
              <th>SHA256</th>
              <th>Running on</th>
              <th>In repository</th>
              <th className="text-right">Promote</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((b) => (
              <tr key={`${b.version}/${b.architecture}`} id={`build-${b.version}`} data-testid="build-row" data-version={b.version} className={b.inIndex ? "" : "opacity-70"}>
                <td className="mono min-w-44 break-all">{b.version}</td>
                <td className="whitespace-nowrap text-slate-600 dark:text-slate-300">{b.buildTime ? formatUtc(b.buildTime, { minutes: true }) : "—"}</td>
                <td className="mono">{b.gitCommit ?? "—"}</td>
                <td className="whitespace-nowrap tabular-nums">{formatBytes(b.size)}</td>
                <td className="whitespace-nowrap">
                  <code className="mono text-xs" title={b.sha256}>
                    {b.sha256.slice(0, 12)}…
                  </code>
                  <CopyButton value={b.sha256} />
                </td>
                <td>
                  <div className="flex flex-wrap gap-1">
                    {b.channels.length ? (
                      b.channels.map((c) => (
                        <span key={c} className="rounded bg-indigo-50 px-1.5 py-0.5 text-xs font-medium text-indigo-700 dark:bg-indigo-500/15 dark:text-indigo-300">
                          {c}
                        </span>
                      ))
                    ) : (
                      <span className="text-slate-400">—</span>
                    )}
                  </div>
                </td>
                <td className="whitespace-nowrap">
                  {b.inIndex ? (
                    <span className="text-emerald-700 dark:text-emerald-400">downloadable</span>
                  ) : (
                    <span className="text-amber-700 dark:text-amber-400" title="No longer listed in the repository index; hosts cannot install it from there.">
                      left the index
                    </span>
                  )}
                </td>
                <td className="whitespace-nowrap text-right">
                  <div className="inline-flex gap-1">
                    {(promote[b.version] ?? []).map(({ channel, reason }) => (
                      <DeployButton key={channel} kind="promote" channel={channel} version={b.version} disabledReason={reason} canOverride={canOverride} label={`Promote to ${channel}`} compact />
                    ))}
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {shown.length === 0 ? <p className="px-3 py-6 text-center text-sm text-slate-500">No build matches “{filter}”.</p> : null}
    </div>
  );
}
