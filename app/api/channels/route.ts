import { requireApiPermission } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { channelPolicies } from "@/lib/deploy/policy-view";
import { channelsView } from "@/lib/present";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "channels.read");
  const config = getConfig();
  if (!config) return json({ channels: [] });
  const channels = await channelsView();
  const policies = await channelPolicies(config, channels);
  return json({ channels: channels.map((c) => ({ ...c, ...policies.get(c.name) })) });
});
