import { refreshBuilds } from "@/lib/apt/refresh";
import { requireApiPermission } from "@/lib/auth/guard";
import { buildsView, repositoryView } from "@/lib/dashboard";
import { json, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "builds.refresh");
  const config = requireConfig();
  const outcome = await refreshBuilds(config.repository, actor);
  const [repository, builds] = await Promise.all([repositoryView(config), buildsView(config)]);
  return json({ outcome, repository, builds });
});
