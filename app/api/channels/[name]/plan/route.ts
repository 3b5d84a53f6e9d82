import { requireApiPermission } from "@/lib/auth/guard";
import { can } from "@/lib/auth/permissions";
import { planRequestSchema } from "@/lib/deploy/input";
import { planDeployment } from "@/lib/deploy/plan";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** What promoting (or rolling back to) a version would do; runs nothing on any host. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { name } = await params;
  const { user } = await requireApiPermission(request, "channels.read", { channel: name });
  const body = await readJson(request, planRequestSchema);
  // Fetching the .deb costs the server a download: done for people who could start the deployment, and cached a few minutes.
  const mayStart = can(user.role, body.kind === "rollback" ? "channels.rollback" : "channels.promote");
  return json({ plan: await planDeployment(requireConfig(), name, body.version, { kind: body.kind, checkDownload: mayStart, cachedDownload: true }) });
});
