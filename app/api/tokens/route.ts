import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { createApiToken, listApiTokens, parseExpiry } from "@/lib/auth/tokens";
import { json, readJson, route } from "@/lib/http";
import { tokenJson } from "@/lib/auth/token-json";

export const dynamic = "force-dynamic";

const createSchema = z
  .object({
    user: z.string().min(1).max(40),
    name: z.string().trim().min(1).max(60),
    /** Omitted or null: every channel. */
    channels: z.array(z.string().max(40)).max(50).nullable().optional(),
    /** Omitted or null: the user's role. */
    permissions: z.array(z.string().max(40)).max(20).nullable().optional(),
    /** A duration (30d, 12h) or an ISO date; omitted or null: no expiry. */
    expires: z.string().max(40).nullable().optional(),
  })
  .strict();

export const GET = route(async (request) => {
  await requireApiPermission(request, "admin");
  return json({ tokens: (await listApiTokens()).map(tokenJson) });
});

/** Creates a token for a user: 201 with the token, shown this once. */
export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "admin");
  const body = await readJson(request, createSchema);
  const expiresAt = body.expires ? parseExpiry(body.expires) : null;
  const created = await createApiToken(body.user, body.name, actor, { channels: body.channels ?? null, permissions: body.permissions ?? null, expiresAt });
  const [info] = await listApiTokens(body.user, created.id);
  return json({ token: created.token, info: tokenJson(info!) }, 201);
});
