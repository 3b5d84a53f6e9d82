import type { Metadata } from "next";
import Link from "next/link";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfigState } from "@/lib/config";
import type { ChannelView } from "@/lib/client-types";
import { promoteBlockedReason, readAvailability, rollbackBlockedReason } from "@/lib/deploy/availability";
import { versionDistribution } from "@/lib/deploy/fleet-view";
import { channelPolicies } from "@/lib/deploy/policy-view";
import { buildsView, channelsView, newestNotOn, repositoryView } from "@/lib/present";
import { BakeState, PolicyBadges } from "../_components/channel-policy";
import { DeployButton } from "../_components/deploy-dialog";
import { NotConfigured } from "../_components/not-configured";
import { RepositoryStatus } from "../_components/repository-status";
import { Badge, PageHeader } from "../_components/ui";
import { VersionChart } from "../_components/version-chart";

export const metadata: Metadata = { title: "Overview" };
export const dynamic = "force-dynamic";

/** Channels in pipeline order: each after the channel it requires (canary → beta), config order otherwise. */
function pipelineOrder(channels: ChannelView[]): ChannelView[] {
  const byName = new Map(channels.map((c) => [c.name, c]));
  const depth = (c: ChannelView, seen = new Set<string>()): number => {
    if (!c.requires || seen.has(c.name)) return 0;
    seen.add(c.name);
    const up = byName.get(c.requires);
    return up ? depth(up, seen) + 1 : 0;
  };
  return channels.map((c, i) => ({ c, d: depth(c), i })).sort((a, b) => a.d - b.d || a.i - b.i).map((x) => x.c);
}

export default async function OverviewPage() {
  const user = await requirePageUser();
  const state = getConfigState();
  const config = state.status === "ok" ? state.config : null;
  if (!config) {
    return (
      <>
        <PageHeader title="Overview" />
        <NotConfigured state={state} />
      </>
    );
  }
  const channels = pipelineOrder(await channelsView());
  const [builds, repo, distribution, availability, policies] = await Promise.all([
    buildsView(config, channels),
    repositoryView(config),
    versionDistribution(),
    readAvailability(config, channels),
    channelPolicies(config, channels),
  ]);
  const now = new Date();
  return (
    <>
      <PageHeader title="Overview" description={`Where every ${config.repository.package} build stands in the beta cluster, channel by channel.`} />
      <RepositoryStatus repo={repo} now={now} />
      <div className="grid grid-cols-1 gap-5 xl:grid-cols-[1fr_20rem]">
        <section aria-label="Pipeline" className="flex min-w-0 flex-col gap-3 md:flex-row md:items-stretch" data-testid="pipeline">
          {channels.map((c, i) => {
            const policy = policies.get(c.name)!;
            const eligible = policy.nextEligible ? builds.find((b) => b.version === policy.nextEligible) ?? null : null;
            const newer = newestNotOn(builds, c);
            const running = availability.busy.get(c.name);
            return (
              <div key={c.name} className="flex min-w-0 flex-1 flex-col gap-3 md:flex-row md:items-stretch">
                {i > 0 ? (
                  <div aria-hidden className="self-center text-2xl text-slate-400 md:px-1">
                    <span className="hidden md:inline">→</span>
                    <span className="md:hidden">↓</span>
                  </div>
                ) : null}
                <article className="card min-w-0 flex-1 p-4" data-testid="channel-card" data-channel={c.name}>
                  <header className="mb-2 flex flex-wrap items-baseline justify-between gap-2">
                    <h2 className="text-lg font-semibold">
                      <Link className="hover:underline" href={`/channels/${c.name}`}>
                        {c.name}
                      </Link>
                    </h2>
                    <span className="text-sm text-slate-500">
                      {c.hosts.length} host{c.hosts.length === 1 ? "" : "s"}
                      {c.requires ? ` · after ${c.requires}` : ""}
                    </span>
                  </header>
                  <PolicyBadges policy={policy} />
                  {policy.freeze ? (
                    <p className="mt-2 text-xs text-rose-700 dark:text-rose-400" data-testid="channel-freeze">
                      Frozen by {policy.freeze.by}: {policy.freeze.reason}
                    </p>
                  ) : null}
                  <dl className="mt-3 space-y-2 text-sm">
                    <div>
                      <dt className="text-xs uppercase tracking-wide text-slate-500">Current version</dt>
                      <dd className="mono break-all" data-testid="channel-current">
                        {c.currentVersion ?? <span className="font-sans text-slate-400">none observed yet</span>}
                      </dd>
                      {c.currentSource === "observed" ? <dd className="text-xs text-slate-500">as observed on most of its hosts; no deployment recorded yet</dd> : null}
                    </div>
                    {policy.bakeMinutes !== null || policy.bake ? (
                      <div>
                        <dt className="text-xs uppercase tracking-wide text-slate-500">Bake</dt>
                        <dd>
                          <BakeState policy={policy} />
                        </dd>
                      </div>
                    ) : null}
                    <div className="flex flex-wrap items-center gap-2">
                      <dt className="text-xs uppercase tracking-wide text-slate-500">Drift</dt>
                      <dd className="flex flex-wrap gap-1">
                        {c.unverified > 0 ? (
                          <Link href="/hosts">
                            <Badge tone="red" title="Hosts whose version could not be read (unreachable, unknown or never probed)">
                              {c.unverified} host{c.unverified === 1 ? "" : "s"} not verified
                            </Badge>
                          </Link>
                        ) : null}
                        {c.drift === 0 ? (
                          c.unverified < c.hosts.length ? <Badge tone="green">none</Badge> : null
                        ) : (
                          <Link href="/hosts">
                            <Badge tone="amber">
                              {c.drift} host{c.drift === 1 ? "" : "s"} differ
                            </Badge>
                          </Link>
                        )}
                      </dd>
                    </div>
                    <div>
                      <dt className="text-xs uppercase tracking-wide text-slate-500">Next eligible build</dt>
                      <dd className="mono break-all" data-testid="channel-next">
                        {eligible ? (
                          eligible.version
                        ) : (
                          <span className="font-sans text-slate-400">
                            {newer && c.requires ? `none yet: ${newer.version} is not proven on ${c.requires}` : "up to date"}
                          </span>
                        )}
                      </dd>
                    </div>
                  </dl>
                  <div className="mt-4 flex flex-wrap items-center gap-2">
                    {eligible ? (
                      <DeployButton kind="promote" channel={c.name} version={eligible.version} disabledReason={promoteBlockedReason(user.role, c, eligible, availability)} canOverride={user.role === "admin"} label="Promote" compact />
                    ) : null}
                    <DeployButton kind="rollback" channel={c.name} version={c.previousVersion ?? ""} disabledReason={rollbackBlockedReason(user.role, c, builds, availability)} canOverride={user.role === "admin"} label="Roll back" compact />
                    {running !== undefined ? (
                      <Link className="text-xs text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${running}`}>
                        deployment {running} running
                      </Link>
                    ) : null}
                  </div>
                </article>
              </div>
            );
          })}
        </section>
        <VersionChart entries={distribution} />
      </div>
    </>
  );
}
