import { requireApiPermission } from "@/lib/auth/guard";
import { disableOtherUser } from "@/lib/auth/user-admin";
import { json, readNoFields, route } from "@/lib/http";

export const dynamic = "force-dynamic";

/** No more sign-in for the user; its sessions end and its API tokens stop working at once. */
export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  await readNoFields(request);
  const { name } = await params;
  await disableOtherUser(name, actor);
  return json({ user: { name, disabled: true } });
});
