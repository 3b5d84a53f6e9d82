import { requireApiPermission } from "@/lib/auth/guard";
import { promoteRequestSchema } from "@/lib/deploy/input";
import { promoteBuild } from "@/lib/deploy/promote";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** Starts a promotion: 202 with the deployment, which then runs in the background. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { name } = await params;
  const { actor } = await requireApiPermission(request, "channels.promote", { channel: name });
  const body = await readJson(request, promoteRequestSchema);
  const started = await promoteBuild(requireConfig(), actor, name, body);
  const deployment = await getDeployment(started.id);
  return json({ deployment: deployment && deploymentJson(deployment), salLine: started.salLine, warnings: started.plan.warnings }, 202);
});
