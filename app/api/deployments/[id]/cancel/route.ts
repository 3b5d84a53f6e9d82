import { channelOfDeployment, requireApiPermission } from "@/lib/auth/guard";
import { cancelDeployment } from "@/lib/deploy/cancel";
import { deploymentIdSchema } from "@/lib/deploy/input";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { json, readNoFields, route } from "@/lib/http";

export const dynamic = "force-dynamic";

/** Asks the deployment to stop: no new host starts; 202, the runner ends it. */
export const POST = route(async (request, { params }: { params: Promise<{ id: string }> }) => {
  const { actor } = await requireApiPermission(request, "deployments.cancel", { channel: () => channelOfDeployment(params) });
  await readNoFields(request);
  const id = deploymentIdSchema.parse((await params).id);
  await cancelDeployment(actor, id);
  const d = await getDeployment(id);
  return json({ deployment: d && deploymentJson(d) }, 202);
});
