import { requireApiPermission } from "@/lib/auth/guard";
import { deploymentIdSchema } from "@/lib/deploy/input";
import { deploymentJson, getDeployment } from "@/lib/deploy/queries";
import { AppError } from "@/lib/errors";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request, { params }: { params: Promise<{ id: string }> }) => {
  await requireApiPermission(request, "deployments.read");
  const id = deploymentIdSchema.parse((await params).id);
  const d = await getDeployment(id);
  if (!d) throw new AppError("NOT_FOUND", `No deployment ${id}.`);
  return json(deploymentJson(d));
});
