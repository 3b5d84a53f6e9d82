import { channelOfDeployment, requireApiPermission } from "@/lib/auth/guard";
import { deploymentIdSchema, retryRequestSchema } from "@/lib/deploy/input";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { retryDeployment } from "@/lib/deploy/retry";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** A new deployment of the same version to the hosts that failed, were skipped, cancelled or interrupted. */
export const POST = route(async (request, { params }: { params: Promise<{ id: string }> }) => {
  const { actor } = await requireApiPermission(request, "channels.promote", { channel: () => channelOfDeployment(params) });
  const id = deploymentIdSchema.parse((await params).id);
  const body = await readJson(request, retryRequestSchema, { optional: true });
  const started = await retryDeployment(requireConfig(), actor, id, body);
  const d = await getDeployment(started.id);
  return json({ deployment: d && deploymentJson(d), salLine: started.salLine }, 202);
});
