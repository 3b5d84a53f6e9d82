import { requireApiPermission } from "@/lib/auth/guard";
import { deploymentListSchema, listDeployments } from "@/lib/deploy/queries";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "deployments.read");
  const q = deploymentListSchema.parse(Object.fromEntries(new URL(request.url).searchParams));
  return json(await listDeployments(q));
});
