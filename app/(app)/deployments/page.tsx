import type { Metadata } from "next";
import { requirePageUser } from "@/lib/auth/guard";
import { deploymentListSchema, listDeployments } from "@/lib/deploy/queries";
import { Badge, EmptyState, OlderPageLink, PageHeader, Time, type Tone } from "../../_components/ui";

export const metadata: Metadata = { title: "Deployments" };
export const dynamic = "force-dynamic";

const STATUS_TONE: Record<string, Tone> = {
  queued: "slate",
  running: "indigo",
  succeeded: "green",
  failed: "red",
  partial: "amber",
  cancelled: "slate",
  interrupted: "amber",
};

export default async function DeploymentsPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  await requirePageUser();
  const raw = await searchParams;
  const parsed = deploymentListSchema.safeParse({ cursor: typeof raw.cursor === "string" ? raw.cursor : undefined });
  const { deployments, nextCursor } = await listDeployments(parsed.success ? parsed.data : deploymentListSchema.parse({}));
  const now = new Date();
  return (
    <>
      <PageHeader title="Deployments" description="Promotions and rollbacks of channels, newest first." />
      {deployments.length === 0 ? (
        <EmptyState title="No deployments recorded yet.">Promotions and rollbacks of channels will be listed here with their hosts and outcome.</EmptyState>
      ) : (
        <div className="card table-wrap">
          <table className="data">
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
                <tr key={d.id}>
                  <td className="mono">{d.id}</td>
                  <td>
                    {d.channel} {d.kind === "rollback" ? <Badge tone="amber">rollback</Badge> : null}
                  </td>
                  <td className="mono">{d.version}</td>
                  <td>
                    <Badge tone={STATUS_TONE[d.status] ?? "slate"}>{d.status}</Badge>
                  </td>
                  <td className="whitespace-nowrap">
                    {d.targets.succeeded}/{d.targets.total}
                    {d.targets.failed ? <span className="text-rose-600"> ({d.targets.failed} failed)</span> : null}
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
      <OlderPageLink href={nextCursor ? `/deployments?cursor=${nextCursor}` : null}>Older deployments →</OlderPageLink>
    </>
  );
}
