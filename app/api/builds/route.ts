import { requireApiPermission } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { buildsView, repositoryView } from "@/lib/present";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "builds.read");
  const config = getConfig();
  const [repository, builds] = await Promise.all([repositoryView(config), buildsView(config)]);
  return json({ repository, builds });
});
