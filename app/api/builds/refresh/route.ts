import { z } from "zod";
import { refreshBuilds } from "@/lib/apt/refresh";
import { requireApiPermission } from "@/lib/auth/guard";
import { buildsView, repositoryView } from "@/lib/present";
import { json, readJson, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** `force: true` downloads the signed file and the index again even when the server says unchanged. */
const bodySchema = z.object({ force: z.boolean().default(false) }).strict();

export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "builds.refresh");
  const { force } = await readJson(request, bodySchema, { optional: true });
  const config = requireConfig();
  const outcome = await refreshBuilds(config.repository, actor, { force });
  const [repository, builds] = await Promise.all([repositoryView(config), buildsView(config)]);
  return json({ outcome, repository, builds });
});
