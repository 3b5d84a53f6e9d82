import type { Metadata } from "next";
import { requirePageUser } from "@/lib/auth/guard";
import { deniedReason } from "@/lib/auth/permissions";
import { getConfigState } from "@/lib/config";
import { promoteBlockedReason, readAvailability } from "@/lib/deploy/availability";
import { buildsView, channelsView, repositoryView } from "@/lib/present";
import { NotConfigured } from "../../_components/not-configured";
import { RefreshButton } from "../../_components/refresh-button";
import { RepositoryStatus } from "../../_components/repository-status";
import { EmptyState, PageHeader } from "../../_components/ui";
import { BuildsTable } from "./builds-table";

export const metadata: Metadata = { title: "Builds" };
export const dynamic = "force-dynamic";

export default async function BuildsPage() {
  const user = await requirePageUser();
  const state = getConfigState();
  const config = state.status === "ok" ? state.config : null;
  const header = (
    <PageHeader
      title="Builds"
      description={config ? `Every ${config.repository.package} build in the verified repository index, newest first by Debian version order.` : undefined}
      actions={config ? <RefreshButton kind="builds" disabledReason={deniedReason(user.role, "builds.refresh")} /> : null}
    />
  );
  if (!config) {
    return (
      <>
        {header}
        <NotConfigured state={state} />
      </>
    );
  }
  const channels = await channelsView();
  const [repo, builds, availability] = await Promise.all([repositoryView(config), buildsView(config, channels), readAvailability(config, channels)]);
  const promote = Object.fromEntries(builds.map((b) => [b.version, channels.map((c) => ({ channel: c.name, reason: promoteBlockedReason(user.role, c, b, availability) }))]));
  return (
    <>
      {header}
      <RepositoryStatus repo={repo} now={new Date()} />
      {builds.length === 0 ? (
        <EmptyState title="No builds known yet.">
          {repo.lastSuccessAt ? `The index lists no ${config.repository.package} package.` : "The repository has not been read successfully yet; refresh to read it now."}
        </EmptyState>
      ) : (
        <BuildsTable builds={builds} promote={promote} canOverride={user.role === "admin"} />
      )}
    </>
  );
}
