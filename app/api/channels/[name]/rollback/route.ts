import { requireApiPermission } from "@/lib/auth/guard";
import { rollbackRequestSchema } from "@/lib/deploy/input";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { rollbackChannel } from "@/lib/deploy/rollback";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** Rolls the channel back to its previous good version (or `version`): 202 with the deployment. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { name } = await params;
  const { actor } = await requireApiPermission(request, "channels.rollback", { channel: name });
  const body = await readJson(request, rollbackRequestSchema);
  const started = await rollbackChannel(requireConfig(), actor, name, body);
  const deployment = await getDeployment(started.id);
  return json({ deployment: deployment && deploymentJson(deployment), salLine: started.salLine, warnings: started.plan.warnings }, 202);
});
