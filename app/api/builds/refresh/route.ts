import { z } from "zod";
import { refreshBuilds } from "@/lib/apt/refresh";
import { requireApiPermission } from "@/lib/auth/guard";
import { AppError } from "@/lib/errors";
import { json, readJson, route } from "@/lib/http";
import { buildsView, repositoryView } from "@/lib/present";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** `force: true` downloads the signed file and the index again even when the server says unchanged. */
const bodySchema = z.object({ force: z.boolean().default(false) }).strict();

/**
 * 200 with the outcome when the read ran, also when the repository failed it (`outcome.ok` false);
 * 503 UNAVAILABLE when our side failed (the database, or a fault of ours while reading).
 */
export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "builds.refresh");
  const { force } = await readJson(request, bodySchema, { optional: true });
  const config = requireConfig();
  try {
    const outcome = await refreshBuilds(config.repository, actor, { force });
    if (!outcome.ok && outcome.errorKind === "internal") throw new AppError("UNAVAILABLE", "The server failed while reading the repository; the server log has the details.");
    const [repository, builds] = await Promise.all([repositoryView(config), buildsView(config)]);
    return json({ outcome, repository, builds });
  } catch (e) {
    if (e instanceof AppError) throw e;
    console.error("[api] POST /api/builds/refresh failed:", e);
    throw new AppError("UNAVAILABLE", "The builds refresh failed on the server (database?); the server log has the details.");
  }
});
