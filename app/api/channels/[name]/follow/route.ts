import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { setFollowPaused } from "@/lib/deploy/follow";
import { json, readJson, route } from "@/lib/http";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ paused: z.boolean() }).strict();

/** Pauses or resumes a following channel's automatic promotions (admin). */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  const { name } = await params;
  const { paused } = await readJson(request, bodySchema);
  await setFollowPaused(actor, name, paused);
  return json({ paused });
});
