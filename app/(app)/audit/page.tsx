import type { Metadata } from "next";
import Link from "next/link";
import { auditFacets, auditQuerySchema, listAuditEvents, type AuditEventWithSummary } from "@/lib/audit/queries";
import type { Segment } from "@/lib/audit/summary";
import { deploymentTimeline, type TimelineDay } from "@/lib/audit/timeline";
import { lastAuditVerification, type StoredVerdict } from "@/lib/audit/verify";
import { requirePageUser } from "@/lib/auth/guard";
import { can, deniedReason } from "@/lib/auth/permissions";
import { Badge, EmptyState, Notice, OlderPageLink, PageHeader, Time, formatUtc } from "../../_components/ui";
import { VerifyButton } from "./verify-button";

export const metadata: Metadata = { title: "Audit" };
export const dynamic = "force-dynamic";

const FILTER_KEYS = ["actor", "action", "channel", "version", "from", "to", "q"] as const;
type Filters = Partial<Record<(typeof FILTER_KEYS)[number], string>>;

function FacetSelect({ name, label, all, value, options }: { name: string; label: string; all: string; value: string | undefined; options: string[] }) {
  return (
    <label className="text-sm">
      <span className="mb-1 block text-xs font-medium text-slate-500">{label}</span>
      <select name={name} defaultValue={value ?? ""} className="input">
        <option value="">{all}</option>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </label>
  );
}

function Field({ name, label, value, type = "text", placeholder }: { name: string; label: string; value: string | undefined; type?: string; placeholder?: string }) {
  return (
    <label className="text-sm">
      <span className="mb-1 block text-xs font-medium text-slate-500">{label}</span>
      <input name={name} type={type} defaultValue={value ?? ""} placeholder={placeholder} className="input" />
    </label>
  );
}

function qs(params: Record<string, string | number | undefined>) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : "";
}

function Sentence({ segments }: { segments: Segment[] }) {
  return (
    <>
      {segments.map((s, i) =>
        typeof s === "string" ? (
          <span key={i}>{s}</span>
        ) : (
          <Link key={i} href={s.href} className="font-medium text-indigo-600 hover:underline dark:text-indigo-400">
            {s.text}
          </Link>
        ),
      )}
    </>
  );
}

function Verdict({ verdict, canVerify }: { verdict: StoredVerdict | null; canVerify: string | null }) {
  const button = <VerifyButton disabledReason={canVerify} />;
  if (!verdict) {
    return (
      <div className="card mb-4 flex flex-wrap items-center justify-between gap-3 px-4 py-3 text-sm" data-testid="audit-verdict" data-ok="unknown">
        <span>The audit hash chain has not been verified yet; the server checks it shortly after start and every 15 minutes.</span>
        {button}
      </div>
    );
  }
  const when = `${formatUtc(verdict.at)} by ${verdict.requestedBy}, ${verdict.events.toLocaleString("en")} events in ${(verdict.durationMs / 1000).toFixed(1)} s`;
  return verdict.ok ? (
    <div className="card mb-4 flex flex-wrap items-center justify-between gap-3 px-4 py-3 text-sm" data-testid="audit-verdict" data-ok="true">
      <span>
        <Badge tone="green">chain intact</Badge> <span className="text-slate-600 dark:text-slate-300">Last verified {when}.</span>{" "}
        <span className="mono text-xs text-slate-500" title="Head of the chain: copy it elsewhere to notice a rewrite of the whole chain">
          head {verdict.headSeq} · {verdict.headHash?.slice(0, 16) ?? "—"}
        </span>
      </span>
      {button}
    </div>
  ) : (
    <div data-testid="audit-verdict" data-ok="false">
      <Notice tone="red" title="The audit log was changed behind the app's back.">
        <p>{verdict.problem}</p>
        <p className="text-xs">Found {when}.</p>
        <div>{button}</div>
      </Notice>
    </div>
  );
}

function Timeline({ days }: { days: TimelineDay[] }) {
  const max = Math.max(1, ...days.map((d) => d.succeeded + d.failed + d.rolledBack));
  const total = days.reduce((n, d) => n + d.succeeded + d.failed + d.rolledBack, 0);
  const W = 12;
  const H = 80;
  const bars = [
    { key: "succeeded", label: "succeeded", fill: "fill-emerald-500" },
    { key: "failed", label: "failed or stopped", fill: "fill-rose-500" },
    { key: "rolledBack", label: "rolled back", fill: "fill-amber-500" },
  ] as const;
  return (
    <figure className="card mb-4 px-4 py-3" data-testid="deployment-timeline">
      <figcaption className="mb-2 flex flex-wrap items-center justify-between gap-2 text-xs text-slate-500">
        <span>
          Deployments per day (UTC), {days[0]?.day} to {days[days.length - 1]?.day}: {total}
        </span>
        <span className="flex gap-3">
          {bars.map((b) => (
            <span key={b.key} className="inline-flex items-center gap-1">
              <svg width="10" height="10" aria-hidden>
                <rect width="10" height="10" className={b.fill} />
              </svg>
              {b.label}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${days.length * W} ${H}`} preserveAspectRatio="none" className="h-20 w-full" role="img" aria-label={`Deployments per day: ${total} in total`}>
        {days.map((d, i) => {
          let y = H;
          return (
            <g key={d.day}>
              <title>{`${d.day}: ${d.succeeded} succeeded, ${d.failed} failed or stopped, ${d.rolledBack} rolled back`}</title>
              <rect x={i * W} y={0} width={W} height={H} className="fill-transparent" />
              {bars.map((b) => {
                const n = d[b.key];
                if (n === 0) return null;
                const h = (n / max) * (H - 2);
                y -= h;
                return <rect key={b.key} x={i * W + 1} y={y} width={W - 2} height={h} className={b.fill} />;
              })}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function EventRow({ e, now }: { e: AuditEventWithSummary; now: Date }) {
  return (
    <tr data-testid="audit-row" data-id={e.id} data-action={e.action}>
      <td className="whitespace-nowrap align-top">
        <Time at={e.at} now={now} />
      </td>
      <td className="align-top">
        <p data-testid="audit-summary">
          <Sentence segments={e.segments} />
        </p>
        <details className="mt-1">
          <summary className="cursor-pointer text-xs text-slate-500 dark:text-slate-400">
            <span className="mono">{e.action}</span> · details
          </summary>
          <dl className="mt-2 grid grid-cols-[max-content_1fr] gap-x-3 gap-y-1 text-xs">
            <dt className="text-slate-500">when</dt>
            <dd className="mono">{formatUtc(e.at)}</dd>
            <dt className="text-slate-500">actor</dt>
            <dd>
              {e.actor} ({e.source})
            </dd>
            {e.target ? (
              <>
                <dt className="text-slate-500">target</dt>
                <dd className="mono break-all">{e.target}</dd>
              </>
            ) : null}
            {e.ip || e.userAgent ? (
              <>
                <dt className="text-slate-500">from</dt>
                <dd className="break-all">
                  {e.ip ?? "—"}
                  {e.userAgent ? ` · ${e.userAgent}` : ""}
                </dd>
              </>
            ) : null}
            <dt className="text-slate-500">chain</dt>
            <dd className="mono break-all">
              #{e.id} · seq {e.seq ?? "—"} · {e.hash ?? "no hash"}
            </dd>
          </dl>
          <pre className="mono mt-2 overflow-x-auto whitespace-pre-wrap break-all rounded bg-slate-50 p-2 text-xs dark:bg-slate-950">{JSON.stringify(e.payload, null, 2)}</pre>
        </details>
      </td>
      <td className="whitespace-nowrap align-top">
        <Badge>{e.source}</Badge>
      </td>
    </tr>
  );
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requirePageUser();
  if (!can(user.role, "audit.read")) return <EmptyState title="Your role cannot read the audit history." />;
  const raw = await searchParams;
  const filters: Filters = {};
  for (const k of FILTER_KEYS) if (typeof raw[k] === "string" && raw[k]) filters[k] = (raw[k] as string).trim();
  const parsed = auditQuerySchema.safeParse({ ...filters, limit: 50, cursor: typeof raw.cursor === "string" ? raw.cursor : undefined });
  const q = parsed.success ? parsed.data : auditQuerySchema.parse({});
  const now = new Date();
  const to = q.to ? (q.to.day ? new Date(q.to.at.getTime() + 86_399_999) : q.to.at) : now;
  const from = q.from?.at ?? new Date(to.getTime() - 29 * 86_400_000);
  const [{ events, nextCursor }, facets, verdict, timeline] = await Promise.all([
    listAuditEvents(q),
    auditFacets(),
    lastAuditVerification(),
    // At most 92 days of bars; a longer range shows its last 92 days.
    deploymentTimeline({ from: new Date(Math.max(from.getTime(), to.getTime() - 91 * 86_400_000)), to, channel: q.channel }),
  ]);
  const filtered = Object.keys(filters).length > 0;
  return (
    <>
      <PageHeader
        title="Audit"
        description="Every change, who made it, from where. Append-only, and each event is chained to the one before by its hash."
        actions={
          <>
            <a className="btn-secondary" data-testid="export-csv" href={`/api/audit/export${qs({ ...filters, format: "csv" })}`}>
              Export CSV
            </a>
            <a className="btn-secondary" data-testid="export-json" href={`/api/audit/export${qs({ ...filters, format: "json" })}`}>
              Export JSON
            </a>
          </>
        }
      />
      <Verdict verdict={verdict} canVerify={deniedReason(user.role, "admin")} />
      {!parsed.success ? (
        <Notice title="Some filters could not be read and were left out.">
          <p>{parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}</p>
        </Notice>
      ) : null}
      <form className="mb-4 flex flex-wrap items-end gap-2" method="get" data-testid="audit-filters">
        <FacetSelect name="actor" label="Actor" all="All actors" value={q.actor} options={facets.actors} />
        <FacetSelect name="action" label="Action" all="All actions" value={q.action} options={facets.actions} />
        <FacetSelect name="channel" label="Channel" all="All channels" value={q.channel} options={facets.channels} />
        <Field name="version" label="Version" value={filters.version} placeholder="e.g. 4.81.0-1" />
        <Field name="from" label="From (UTC)" type="date" value={filters.from} />
        <Field name="to" label="To (UTC)" type="date" value={filters.to} />
        <Field name="q" label="Text" value={filters.q} placeholder="reason, host, error…" />
        <button className="btn-secondary" type="submit">
          Filter
        </button>
        {filtered ? (
          <Link className="text-sm text-indigo-600 hover:underline dark:text-indigo-400" href="/audit">
            Clear
          </Link>
        ) : null}
      </form>
      <Timeline days={timeline} />
      {events.length === 0 ? (
        <EmptyState title="No audit events match.">Sign-ins, refreshes of builds and hosts, deployments, inventory changes, users and tokens all leave a record here.</EmptyState>
      ) : (
        <div className="card table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>When</th>
                <th>What happened</th>
                <th>Via</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <EventRow key={e.id} e={e} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <OlderPageLink href={nextCursor ? `/audit${qs({ ...filters, cursor: nextCursor })}` : null}>Older events →</OlderPageLink>
    </>
  );
}
