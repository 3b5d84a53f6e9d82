import { requireApiPermission } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { channelsView } from "@/lib/present";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "channels.read");
  const config = getConfig();
  return json({ channels: config ? await channelsView() : [] });
});
