import type { Metadata } from "next";
import Link from "next/link";
import { auditFacets, auditQuerySchema, listAuditEvents } from "@/lib/audit/queries";
import { requirePageUser } from "@/lib/auth/guard";
import { can } from "@/lib/auth/permissions";
import { Badge, EmptyState, OlderPageLink, PageHeader, Time } from "../../_components/ui";

export const metadata: Metadata = { title: "Audit" };
export const dynamic = "force-dynamic";

function FacetSelect({ name, label, value, options }: { name: string; label: string; value: string | undefined; options: string[] }) {
  return (
    <label className="text-sm">
      <span className="mb-1 block text-xs font-medium text-slate-500">{label}</span>
      <select name={name} defaultValue={value ?? ""} className="input">
        <option value="">All {label.toLowerCase()}s</option>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </label>
  );
}

function qs(params: Record<string, string | number | undefined>) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : "";
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const user = await requirePageUser();
  if (!can(user.role, "audit.read")) return <EmptyState title="Your role cannot read the audit history." />;
  const raw = await searchParams;
  const parsed = auditQuerySchema.safeParse({
    limit: 50,
    cursor: typeof raw.cursor === "string" ? raw.cursor : undefined,
    actor: typeof raw.actor === "string" && raw.actor ? raw.actor : undefined,
    action: typeof raw.action === "string" && raw.action ? raw.action : undefined,
  });
  const q = parsed.success ? parsed.data : auditQuerySchema.parse({});
  const [{ events, nextCursor }, facets] = await Promise.all([listAuditEvents(q), auditFacets()]);
  const now = new Date();
  const filters = { actor: q.actor, action: q.action };
  return (
    <>
      <PageHeader
        title="Audit"
        description="Every change, who made it, from where. Append-only."
        actions={
          <>
            <a className="btn-secondary" href={`/api/audit/export${qs({ ...filters, format: "csv" })}`}>
              Export CSV
            </a>
            <a className="btn-secondary" href={`/api/audit/export${qs({ ...filters, format: "json" })}`}>
              Export JSON
            </a>
          </>
        }
      />
      <form className="mb-4 flex flex-wrap items-end gap-2" method="get">
        <FacetSelect name="actor" label="Actor" value={q.actor} options={facets.actors} />
        <FacetSelect name="action" label="Action" value={q.action} options={facets.actions} />
        <button className="btn-secondary" type="submit">
          Filter
        </button>
        {q.actor || q.action ? (
          <Link className="text-sm text-indigo-600 hover:underline dark:text-indigo-400" href="/audit">
            Clear
          </Link>
        ) : null}
      </form>
      {events.length === 0 ? (
        <EmptyState title="No audit events match.">Sign-ins, refreshes of builds and hosts, inventory changes, users and tokens all leave a record here.</EmptyState>
      ) : (
        <div className="card table-wrap">
          <table className="data">
            <thead>
              <tr>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id}>
                  <td className="whitespace-nowrap">
                    <Time at={e.at} now={now} />
                  </td>
                  <td className="whitespace-nowrap">
                    {e.actor} <Badge>{e.source}</Badge>
                  </td>
                  <td className="mono whitespace-nowrap">{e.action}</td>
                  <td className="mono">{e.target ?? "—"}</td>
                  <td className="max-w-xl">
                    {JSON.stringify(e.payload) === "{}" && !e.ip ? (
                      <span className="text-slate-400">—</span>
                    ) : (
                      <details>
                        <summary className="mono cursor-pointer truncate text-xs text-slate-500 dark:text-slate-400">{JSON.stringify(e.payload)}</summary>
                        <pre className="mono mt-2 overflow-x-auto whitespace-pre-wrap break-all rounded bg-slate-50 p-2 text-xs dark:bg-slate-950">
                          {JSON.stringify(e.payload, null, 2)}
                        </pre>
                        <p className="mt-1 text-xs text-slate-500">
                          {e.ip ? `from ${e.ip}` : null} {e.userAgent ? `· ${e.userAgent}` : null}
                        </p>
                      </details>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <OlderPageLink href={nextCursor ? `/audit${qs({ ...filters, cursor: nextCursor })}` : null}>Older events →</OlderPageLink>
    </>
  );
}
