import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfigState } from "@/lib/config";
import { promoteBlockedReason, readAvailability, rollbackBlockedReason } from "@/lib/deploy/availability";
import { listDeployments } from "@/lib/deploy/queries";
import { deniedReason } from "@/lib/auth/permissions";
import { channelPolicies } from "@/lib/deploy/policy-view";
import { buildsView, channelsView, hostsView } from "@/lib/present";
import { BakeState, PolicyBadges } from "../../../_components/channel-policy";
import { DeployButton } from "../../../_components/deploy-dialog";
import { NotConfigured } from "../../../_components/not-configured";
import { Badge, EmptyState, formatUtc, PageHeader, Time } from "../../../_components/ui";
import { ChannelAdmin } from "./channel-admin";
import { DeploymentsTable } from "../../deployments/deployments-table";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ name: string }> }): Promise<Metadata> {
  return { title: `Channel ${(await params).name}` };
}

export default async function ChannelPage({ params }: { params: Promise<{ name: string }> }) {
  const user = await requirePageUser();
  const { name } = await params;
  const state = getConfigState();
  const config = state.status === "ok" ? state.config : null;
  if (!config) {
    return (
      <>
        <PageHeader title={`Channel ${name}`} />
        <NotConfigured state={state} />
      </>
    );
  }
  const channels = await channelsView();
  const channel = channels.find((c) => c.name === name);
  if (!channel) notFound();
  const [builds, hosts, history, availability, policies] = await Promise.all([
    buildsView(config, channels),
    hostsView(),
    listDeployments({ limit: 20, channel: name }),
    readAvailability(config, channels),
    channelPolicies(config, channels),
  ]);
  const policy = policies.get(name)!;
  const members = hosts.filter((h) => channel.hosts.includes(h.name));
  // The newest build this channel may take now (proven where it must be, never failed here).
  const next = policy.nextEligible ? builds.find((b) => b.version === policy.nextEligible) ?? null : null;
  const busy = availability.busy.get(name);
  const now = new Date();
  const rollbackReason = rollbackBlockedReason(user.role, channel, builds, availability);

  return (
    <>
      <PageHeader
        title={`Channel ${channel.name}`}
        description={`${channel.hosts.length} host${channel.hosts.length === 1 ? "" : "s"}${channel.requires ? ` · takes only builds that succeeded on ${channel.requires}` : ""} · batches of ${channel.batchSize}, ${channel.maxFailures} failure(s) tolerated`}
      />
      {busy !== undefined ? (
        <p className="mb-4 text-sm" role="status">
          <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${busy}`}>
            Deployment {busy}
          </Link>{" "}
          is running on this channel&apos;s hosts.
        </p>
      ) : null}
      <section className="mb-5 grid grid-cols-1 gap-4 md:grid-cols-3" aria-label="Versions">
        <div className="card p-4">
          <p className="text-xs uppercase tracking-wide text-slate-500">Current version</p>
          <p className="mono mt-1 break-all" data-testid="channel-current">
            {channel.currentVersion ?? <span className="font-sans text-slate-400">none observed yet</span>}
          </p>
          <p className="mt-1 text-xs text-slate-500">{channel.currentSource === "observed" ? "as observed on most of its hosts; no deployment recorded yet" : channel.currentSource === "deployment" ? "from its last successful deployment" : ""}</p>
          <div className="mt-3 flex flex-wrap items-center gap-2">
            {next ? (
              <DeployButton kind="promote" channel={channel.name} version={next.version} disabledReason={promoteBlockedReason(user.role, channel, next, availability)} canOverride={user.role === "admin"} label="Promote the next eligible build" />
            ) : (
              <span className="text-sm text-slate-500">No newer build may come here now.</span>
            )}
          </div>
          {next ? <p className="mono mt-1 break-all text-xs text-slate-500">{next.version}</p> : null}
        </div>
        <div className="card p-4">
          <p className="text-xs uppercase tracking-wide text-slate-500">Previous good version</p>
          <p className="mono mt-1 break-all" data-testid="channel-previous">
            {channel.previousVersion ?? <span className="font-sans text-slate-400">none in the history</span>}
          </p>
          <p className="mt-1 text-xs text-slate-500">what a rollback goes back to, from the deployment history</p>
          <div className="mt-3 flex flex-wrap items-center gap-2">
            <DeployButton kind="rollback" channel={channel.name} version={channel.previousVersion ?? ""} disabledReason={rollbackReason} canOverride={user.role === "admin"} label="Roll back" />
          </div>
        </div>
        <div className="card p-4">
          <p className="text-xs uppercase tracking-wide text-slate-500">Drift</p>
          <div className="mt-2 flex flex-wrap gap-1">
            {channel.drift > 0 ? <Badge tone="amber">{channel.drift} host(s) differ</Badge> : <Badge tone="green">none</Badge>}
            {channel.unverified > 0 ? <Badge tone="red">{channel.unverified} not verified</Badge> : null}
          </div>
        </div>
      </section>

      <section className="card mb-5 grid grid-cols-1 gap-4 p-4 md:grid-cols-2" aria-label="Policies">
        <div className="space-y-2">
          <p className="text-xs uppercase tracking-wide text-slate-500">Policies</p>
          <PolicyBadges policy={policy} />
          {!policy.follow && policy.bakeMinutes === null && !policy.freeze ? (
            <p className="text-sm text-slate-600 dark:text-slate-300">No following and no bake: builds come here when someone promotes them{channel.requires ? `, once proven on ${channel.requires}` : ""}.</p>
          ) : null}
          {policy.follow ? (
            <p className="text-sm text-slate-600 dark:text-slate-300">
              {policy.followPaused ? `Following new builds is paused (by ${policy.followPaused.by}).` : "Every new build the repository publishes is promoted here by itself."}
            </p>
          ) : null}
          {policy.freeze ? (
            <p className="text-sm text-rose-700 dark:text-rose-400" data-testid="channel-freeze">
              Frozen by {policy.freeze.by} since {formatUtc(policy.freeze.since, { minutes: true })}
              {policy.freeze.until ? ` until ${formatUtc(policy.freeze.until, { minutes: true })}` : ""}: {policy.freeze.reason}
            </p>
          ) : null}
          {policy.bakeMinutes !== null ? (
            <p className="text-sm text-slate-600 dark:text-slate-300">
              A promoted build bakes {policy.bakeMinutes} min with health checks on every host before channels after this one may take it
              {policy.onBakeFailure === "rollback" ? "; a failed check rolls this channel back." : "."}
            </p>
          ) : null}
          <BakeState policy={policy} detailed />
        </div>
        <ChannelAdmin channel={channel.name} policy={policy} deniedReason={deniedReason(user.role, "admin")} />
      </section>

      <h2 className="mb-2 text-base font-semibold">Hosts</h2>
      <div className="card table-wrap mb-6">
        <table className="data" data-testid="channel-hosts">
          <thead>
            <tr>
              <th>Host</th>
              <th>Version</th>
              <th>Status</th>
              <th>Seen</th>
            </tr>
          </thead>
          <tbody>
            {members.map((h) => (
              <tr key={h.name}>
                <td className="whitespace-nowrap">{h.name}</td>
                <td className="mono break-all">
                  {h.version ?? (h.lastKnown?.version ? <span className="text-slate-500">last seen {h.lastKnown.version}</span> : "—")}
                  {h.drift ? (
                    <span className="ml-2">
                      <Badge tone="amber" title={`${h.drift.channel} expects ${h.drift.expected}`}>
                        drift
                      </Badge>
                    </span>
                  ) : null}
                </td>
                <td>
                  <Badge tone={h.status === "ok" ? "green" : h.status === "not-installed" ? "slate" : "red"}>{h.status}</Badge>
                </td>
                <td className="whitespace-nowrap">
                  <Time at={h.observedAt} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2 className="mb-2 text-base font-semibold">Deployment history</h2>
      {history.deployments.length === 0 ? (
        <EmptyState title="No deployment of this channel yet." />
      ) : (
        <DeploymentsTable deployments={history.deployments} showChannel={false} testId="channel-history" rowTestId="history-row" />
      )}
    </>
  );
}
