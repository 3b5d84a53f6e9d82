import type { Metadata } from "next";
import Link from "next/link";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfigState } from "@/lib/config";
import { buildsView, channelsView, newestNotOn, repositoryView } from "@/lib/present";
import { promoteBlockedReason, readAvailability, rollbackBlockedReason } from "@/lib/deploy/availability";
import { versionDistribution } from "@/lib/deploy/fleet-view";
import { DeployButton } from "../_components/deploy-dialog";
import { NotConfigured } from "../_components/not-configured";
import { RepositoryStatus } from "../_components/repository-status";
import { Badge, PageHeader } from "../_components/ui";
import { VersionChart } from "../_components/version-chart";

export const metadata: Metadata = { title: "Overview" };
export const dynamic = "force-dynamic";

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
  const channels = await channelsView();
  const [builds, repo, distribution, availability] = await Promise.all([buildsView(config, channels), repositoryView(config), versionDistribution(), readAvailability(channels)]);
  const now = new Date();
  return (
    <>
      <PageHeader title="Overview" description={`Channels of ${config.repository.package} in the beta cluster.`} />
      <RepositoryStatus repo={repo} now={now} />
      <div className="grid grid-cols-1 gap-5 lg:grid-cols-[1fr_20rem]">
        <section aria-label="Channels" className="grid min-w-0 grid-cols-1 content-start gap-4 sm:grid-cols-2">
          {channels.map((c) => {
            const next = newestNotOn(builds, c);
            return (
              <article key={c.name} className="card p-4" data-testid="channel-card" data-channel={c.name}>
                <header className="mb-3 flex items-baseline justify-between gap-2">
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
                <dl className="space-y-2 text-sm">
                  <div>
                    <dt className="text-xs uppercase tracking-wide text-slate-500">Current version</dt>
                    <dd className="mono break-all" data-testid="channel-current">
                      {c.currentVersion ?? <span className="font-sans text-slate-400">none observed yet</span>}
                    </dd>
                    {c.currentSource === "observed" ? (
                      <dd className="text-xs text-slate-500">as observed on most of its hosts; no deployment recorded yet</dd>
                    ) : null}
                  </div>
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
                    <dt className="text-xs uppercase tracking-wide text-slate-500">Newest build not yet on it</dt>
                    <dd className="mono break-all">{next ? next.version : <span className="font-sans text-slate-400">up to date</span>}</dd>
                  </div>
                </dl>
                <div className="mt-4 flex flex-wrap items-center gap-2">
                  {next ? (
                    <DeployButton kind="promote" channel={c.name} version={next.version} disabledReason={promoteBlockedReason(user.role, c, next, availability)} canOverride={user.role === "admin"} label="Promote newest" compact />
                  ) : null}
                  <DeployButton kind="rollback" channel={c.name} version={c.previousVersion ?? ""} disabledReason={rollbackBlockedReason(user.role, c, builds, availability)} canOverride={user.role === "admin"} label="Roll back" compact />
                  {availability.busy.has(c.name) ? (
                    <Link className="text-xs text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${availability.busy.get(c.name)}`}>
                      deployment {availability.busy.get(c.name)} running
                    </Link>
                  ) : null}
                </div>
              </article>
            );
          })}
        </section>
        <VersionChart entries={distribution} />
      </div>
    </>
  );
}
