import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { ROLES } from "@/lib/auth/permissions";
import { setUserRole } from "@/lib/auth/user-admin";
import { json, readJson, route } from "@/lib/http";

export const dynamic = "force-dynamic";

const bodySchema = z.object({ role: z.enum(ROLES) }).strict();

export const POST = route(async (request, { params }: { params: Promise<{ name: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  const { name } = await params;
  const { role } = await readJson(request, bodySchema);
  await setUserRole(name, role, actor);
  return json({ user: { name, role } });
});
