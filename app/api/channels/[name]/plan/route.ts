import { requireApiPermission } from "@/lib/auth/guard";
import { planRequestSchema } from "@/lib/deploy/input";
import { planDeployment } from "@/lib/deploy/plan";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** What promoting (or rolling back to) a version would do; runs nothing on any host. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  await requireApiPermission(request, "channels.read");
  const { name } = await params;
  const body = await readJson(request, planRequestSchema);
  return json({ plan: await planDeployment(requireConfig(), name, body.version, { kind: body.kind }) });
});
