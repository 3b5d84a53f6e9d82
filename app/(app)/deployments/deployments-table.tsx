// The list of deployments, newest first: on /deployments and, without the channel column, on a channel's page.
import Link from "next/link";
import type { DeploymentSummary } from "@/lib/deploy/deployment-types";
import { Badge, Time } from "../../_components/ui";
import { DEPLOYMENT_TONE } from "./status";

export function DeploymentsTable({ deployments, showChannel = true, testId, rowTestId }: { deployments: DeploymentSummary[]; showChannel?: boolean; testId: string; rowTestId: string }) {
  const now = new Date();
  return (
    <div className="card table-wrap">
      <table className="data" data-testid={testId}>
        <thead>
          <tr>
            <th>#</th>
            {showChannel ? <th>Channel</th> : null}
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
            <tr key={d.id} data-testid={rowTestId} data-id={d.id}>
              <td className="mono">
                <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${d.id}`}>
                  {d.id}
                </Link>
              </td>
              {showChannel ? (
                <td className="whitespace-nowrap">
                  <Link className="hover:underline" href={`/channels/${d.channel}`}>
                    {d.channel}
                  </Link>
                </td>
              ) : null}
              <td className="mono min-w-44 break-all">
                <Link className="hover:underline" href={`/deployments/${d.id}`}>
                  {d.version}
                </Link>{" "}
                {d.kind === "rollback" ? <Badge tone="amber">rollback</Badge> : null}
                {d.retryOf ? <Badge tone="slate">retry of {d.retryOf}</Badge> : null}
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
  );
}
