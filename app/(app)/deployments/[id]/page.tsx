import type { Metadata } from "next";
import Link from "next/link";
import { notFound } from "next/navigation";
import { requirePageUser } from "@/lib/auth/guard";
import { deniedReason } from "@/lib/auth/permissions";
import { compareLink } from "@/lib/apt/compare";
import { getConfig } from "@/lib/config";
import { deploymentJson, getDeployment, latestRetryOf } from "@/lib/deploy/queries";
import { PageHeader } from "../../../_components/ui";
import { DeploymentLive } from "./deployment-live";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Deployment ${(await params).id}` };
}

export default async function DeploymentPage({ params }: { params: Promise<{ id: string }> }) {
  const user = await requirePageUser();
  const { id: raw } = await params;
  const id = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  const d = Number.isFinite(id) ? await getDeployment(id) : null;
  if (!d) notFound();
  return (
    <>
      <PageHeader
        title={`Deployment ${d.id}: ${d.kind === "rollback" ? "roll back" : "promote"} ${d.channel}`}
        description={
          <>
            <Link className="text-indigo-600 hover:underline dark:text-indigo-400" href="/deployments">
              All deployments
            </Link>{" "}
            · every host&apos;s state, live
          </>
        }
      />
      <DeploymentLive
        initial={deploymentJson(d)}
        cancelDenied={deniedReason(user.role, "deployments.cancel")}
        retryDenied={
          deniedReason(user.role, d.kind === "rollback" ? "channels.rollback" : "channels.promote") ??
          (d.override && user.role !== "admin" ? "An admin started this past the channel's gate; only an admin may retry it." : null)
        }
        retriedAs={await latestRetryOf(d.id)}
        changesUrl={compareLink(getConfig()?.repository.compareUrl, d.fromVersion, d.version)}
      />
    </>
  );
}
