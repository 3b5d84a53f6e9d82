import type { Metadata } from "next";
import { requirePageUser } from "@/lib/auth/guard";
import { deniedReason } from "@/lib/auth/permissions";
import { getConfigState } from "@/lib/config";
import { hostsView, probeView } from "@/lib/present";
import { NotConfigured } from "../../_components/not-configured";
import { RefreshButton } from "../../_components/refresh-button";
import { EmptyState, PageHeader } from "../../_components/ui";
import { HostsLive } from "./hosts-live";

export const metadata: Metadata = { title: "Hosts" };
export const dynamic = "force-dynamic";

export default async function HostsPage() {
  const user = await requirePageUser();
  const state = getConfigState();
  const config = state.status === "ok" ? state.config : null;
  const probe = probeView();
  const header = (
    <PageHeader
      title="Hosts"
      description="The scap version each beta host reported over SSH, and where it differs from its channel."
      actions={config ? <RefreshButton kind="hosts" disabledReason={deniedReason(user.role, "hosts.refresh")} initialProbe={probe} /> : null}
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
  const hosts = await hostsView();
  return (
    <>
      {header}
      {hosts.length === 0 ? (
        <EmptyState title="No hosts in the inventory.">Hosts come from the <code className="mono">hosts</code> list of the configuration file.</EmptyState>
      ) : (
        <HostsLive hosts={hosts} renderedAt={new Date().toISOString()} />
      )}
    </>
  );
}
