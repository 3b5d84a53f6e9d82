import type { Metadata } from "next";
import Link from "next/link";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { DEPLOYMENT_STATUSES, deploymentListSchema, listDeployments } from "@/lib/deploy/queries";
import { Badge, EmptyState, OlderPageLink, PageHeader, Time } from "../../_components/ui";
import { DEPLOYMENT_TONE } from "./status";

export const metadata: Metadata = { title: "Deployments" };
export const dynamic = "force-dynamic";

const one = (v: string | string[] | undefined) => (typeof v === "string" && v !== "" ? v : undefined);

export default async function DeploymentsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requirePageUser();
  const raw = await searchParams;
  const parsed = deploymentListSchema.safeParse({ cursor: one(raw.cursor), channel: one(raw.channel), status: one(raw.status) });
  const q = parsed.success ? parsed.data : deploymentListSchema.parse({});
  const { deployments, nextCursor } = await listDeployments(q);
  const channels = getConfig()?.channels.map((c) => c.name) ?? [];
  const now = new Date();
  const filter = new URLSearchParams({ ...(q.channel ? { channel: q.channel } : {}), ...(q.status ? { status: q.status } : {}) });
  return (
    <>
      <PageHeader title="Deployments" description="Promotions and rollbacks of channels, newest first." />
      <form className="mb-4 flex flex-wrap items-end gap-3" method="get">
        <label className="text-sm">
          <span className="mb-1 block text-xs uppercase tracking-wide text-slate-500">Channel</span>
          <select name="channel" defaultValue={q.channel ?? ""} className="input">
            <option value="">all</option>
            {channels.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="mb-1 block text-xs uppercase tracking-wide text-slate-500">Status</span>
          <select name="status" defaultValue={q.status ?? ""} className="input">
            <option value="">all</option>
            {DEPLOYMENT_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <button className="btn-secondary" type="submit">
          Filter
        </button>
        {q.channel || q.status ? (
          <Link className="text-sm text-indigo-600 hover:underline dark:text-indigo-400" href="/deployments">
            Clear
          </Link>
        ) : null}
      </form>
      {deployments.length === 0 ? (
        <EmptyState title={q.channel || q.status ? "No deployment matches." : "No deployments recorded yet."}>
          Promote a build from the Builds page or a channel&apos;s page; its hosts and outcome will be listed here.
        </EmptyState>
      ) : (
        <div className="card table-wrap">
          <table className="data" data-testid="deployments-table">
            <thead>
              <tr>
                <th>#</th>
                <th>Channel</th>
                <th>Version</th>
                <th>Status</th>
                <th>Hosts</th>
                <th>By</th>
                <th>When</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {deployments.map((d) => (
                <tr key={d.id} data-testid="deployment-row" data-id={d.id}>
                  <td className="mono">
                    <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${d.id}`}>
                      {d.id}
                    </Link>
                  </td>
                  <td className="whitespace-nowrap">
                    <Link className="hover:underline" href={`/channels/${d.channel}`}>
                      {d.channel}
                    </Link>{" "}
                    {d.kind === "rollback" ? <Badge tone="amber">rollback</Badge> : null}
                    {d.retryOf ? <Badge tone="slate">retry of {d.retryOf}</Badge> : null}
                  </td>
                  <td className="mono min-w-44 break-all">
                    <Link className="hover:underline" href={`/deployments/${d.id}`}>
                      {d.version}
                    </Link>
                  </td>
                  <td>
                    <Badge tone={DEPLOYMENT_TONE[d.status] ?? "slate"}>{d.status}</Badge>
                  </td>
                  <td className="whitespace-nowrap">
                    {d.counts.succeeded}/{d.counts.total}
                    {d.counts.failed ? <span className="text-rose-600"> ({d.counts.failed} failed)</span> : null}
                  </td>
                  <td>{d.actor}</td>
                  <td className="whitespace-nowrap">
                    <Time at={d.createdAt} now={now} />
                  </td>
                  <td className="max-w-xs truncate" title={d.reason}>
                    {d.reason}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <OlderPageLink href={nextCursor ? `/deployments?${new URLSearchParams({ ...Object.fromEntries(filter), cursor: String(nextCursor) })}` : null}>Older deployments →</OlderPageLink>
    </>
  );
}
