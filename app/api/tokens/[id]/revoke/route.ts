import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { tokenJson } from "@/lib/auth/token-json";
import { revokeApiTokenById } from "@/lib/auth/tokens";
import { json, readNoFields, route } from "@/lib/http";

export const dynamic = "force-dynamic";

const idSchema = z.coerce.number({ error: "a token id is a number" }).int().positive().max(2 ** 31 - 1);

export const POST = route(async (request, { params }: { params: Promise<{ id: string }> }) => {
  const { actor } = await requireApiPermission(request, "admin");
  await readNoFields(request);
  const id = idSchema.parse((await params).id);
  return json({ token: tokenJson(await revokeApiTokenById(id, actor)) });
});
