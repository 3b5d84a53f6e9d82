import { requireApiPermission } from "@/lib/auth/guard";
import { unfreezeChannel } from "@/lib/deploy/freeze";
import { json, readNoFields, route } from "@/lib/http";

export const dynamic = "force-dynamic";

/** Lifts the channel's freeze (admin). */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  await readNoFields(request);
  const { name } = await params;
  await unfreezeChannel(actor, name);
  return json({ ok: true });
});
