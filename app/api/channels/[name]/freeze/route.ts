import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { reasonSchema } from "@/lib/deploy/input";
import { freezeChannel } from "@/lib/deploy/freeze";
import { json, readJson, route } from "@/lib/http";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ reason: reasonSchema, until: z.iso.datetime({ offset: true }).optional() }).strict();

/** Freezes the channel (admin): promotions and rollbacks are refused until it is lifted or `until` passes. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  const { name } = await params;
  const body = await readJson(request, bodySchema);
  return json({ freeze: await freezeChannel(actor, name, { reason: body.reason, until: body.until ? new Date(body.until) : null }) });
});
