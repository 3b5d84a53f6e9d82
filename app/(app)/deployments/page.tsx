import type { Metadata } from "next";
import Link from "next/link";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { DEPLOYMENT_STATUSES, deploymentListSchema, listDeployments } from "@/lib/deploy/queries";
import { EmptyState, OlderPageLink, PageHeader } from "../../_components/ui";
import { DeploymentsTable } from "./deployments-table";

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
        <DeploymentsTable deployments={deployments} testId="deployments-table" rowTestId="deployment-row" />
      )}
      <OlderPageLink href={nextCursor ? `/deployments?${new URLSearchParams({ ...Object.fromEntries(filter), cursor: String(nextCursor) })}` : null}>Older deployments →</OlderPageLink>
    </>
  );
}
