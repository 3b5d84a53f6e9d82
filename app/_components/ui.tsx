// Small presentational pieces shared by the pages (server-safe: no hooks).
import Link from "next/link";
import type { ReactNode } from "react";

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-end justify-between gap-3">
      <div>
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {description ? <p className="mt-1 text-sm text-slate-500 dark:text-slate-400">{description}</p> : null}
      </div>
      {actions ? <div className="flex flex-wrap items-center gap-2">{actions}</div> : null}
    </div>
  );
}

const TONES = {
  green: "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-300 dark:ring-emerald-400/30",
  amber: "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-500/10 dark:text-amber-300 dark:ring-amber-400/30",
  red: "bg-rose-50 text-rose-700 ring-rose-600/20 dark:bg-rose-500/10 dark:text-rose-300 dark:ring-rose-400/30",
  slate: "bg-slate-100 text-slate-700 ring-slate-500/20 dark:bg-slate-800 dark:text-slate-300 dark:ring-slate-400/20",
  indigo: "bg-indigo-50 text-indigo-700 ring-indigo-600/20 dark:bg-indigo-500/10 dark:text-indigo-300 dark:ring-indigo-400/30",
} as const;
export type Tone = keyof typeof TONES;

export function Badge({ tone = "slate", children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span title={title} className={`inline-flex items-center whitespace-nowrap rounded-md px-1.5 py-0.5 text-xs font-medium ring-1 ring-inset ${TONES[tone]}`}>
      {children}
    </span>
  );
}

export function Notice({ tone = "amber", title, children }: { tone?: "amber" | "red" | "slate"; title: string; children?: ReactNode }) {
  const styles = {
    amber: "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-500/40 dark:bg-amber-500/10 dark:text-amber-200",
    red: "border-rose-300 bg-rose-50 text-rose-900 dark:border-rose-500/40 dark:bg-rose-500/10 dark:text-rose-200",
    slate: "border-slate-300 bg-slate-50 text-slate-800 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-200",
  }[tone];
  return (
    <div role={tone === "red" ? "alert" : "status"} className={`mb-5 rounded-lg border px-4 py-3 text-sm ${styles}`}>
      <p className="font-semibold">{title}</p>
      {children ? <div className="mt-1 space-y-1">{children}</div> : null}
    </div>
  );
}

/** The link to the next (older) page of a cursor-paged list; nothing when there is none. */
export function OlderPageLink({ href, children }: { href: string | null; children: ReactNode }) {
  if (!href) return null;
  return (
    <div className="mt-4">
      <Link className="btn-secondary" href={href}>
        {children}
      </Link>
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="card px-6 py-10 text-center">
      <p className="font-medium">{title}</p>
      {children ? <div className="mx-auto mt-2 max-w-prose text-sm text-slate-500 dark:text-slate-400">{children}</div> : null}
    </div>
  );
}

/** A time shown relative ("3 min ago") with the exact UTC time on hover and for screen readers. */
export function Time({ at, now = new Date() }: { at: Date | string | null | undefined; now?: Date }) {
  if (!at) return <span className="text-slate-400">never</span>;
  const d = typeof at === "string" ? new Date(at) : at;
  return (
    <time dateTime={d.toISOString()} title={formatUtc(d)}>
      {relativeTime(d, now)}
    </time>
  );
}

/** "2026-11-24 12:00:05 UTC"; `minutes` drops the seconds. */
export function formatUtc(at: Date | string, { minutes = false } = {}): string {
  const iso = typeof at === "string" ? at : at.toISOString();
  return iso.replace("T", " ").replace(minutes ? /:\d\d(\.\d+)?Z$/ : /(\.\d+)?Z$/, " UTC");
}

/** "3 min ago", or "in 30 d" for a time still to come. */
export function relativeTime(d: Date, now: Date): string {
  const diff = Math.round((now.getTime() - d.getTime()) / 1000);
  const s = Math.abs(diff);
  const span = s < 45 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 36 * 3600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
  if (diff < 0) return s < 5 ? "now" : `in ${span}`;
  return s < 5 ? "just now" : `${span} ago`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
