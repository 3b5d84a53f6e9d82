import { requireApiPermission } from "@/lib/auth/guard";
import { getConfig } from "@/lib/config";
import { hostsView, probeView } from "@/lib/present";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "hosts.read");
  const config = getConfig();
  return json({ hosts: config ? await hostsView() : [], probe: probeView() });
});
