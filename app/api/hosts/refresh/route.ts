import { requireApiPermission } from "@/lib/auth/guard";
import { AppError } from "@/lib/errors";
import { hostsView, probeView } from "@/lib/present";
import { probeFleet } from "@/lib/fleet/probe";
import { json, route } from "@/lib/http";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/** Probes every host now (joining a probe already running) and answers when it is done. */
export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "hosts.refresh");
  const config = requireConfig();
  const run = await probeFleet(config, actor);
  if (run.error) throw new AppError("UNAVAILABLE", run.error);
  return json({ hosts: await hostsView(), probe: probeView() });
});
