import { requireApiPermission } from "@/lib/auth/guard";
import { AppError } from "@/lib/errors";
import { probeFleet } from "@/lib/fleet/probe";
import { json, readNoFields, route } from "@/lib/http";
import { hostsView, probeView } from "@/lib/present";
import { requireConfig } from "@/lib/require-config";

export const dynamic = "force-dynamic";

/**
 * Probes every host now (joining a probe already running) and answers when it is done: 200 with
 * the hosts when the probe ran, also when hosts were unreachable or busy; 503 UNAVAILABLE when
 * our side failed (the database).
 */
export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "hosts.refresh");
  await readNoFields(request);
  const config = requireConfig();
  try {
    const run = await probeFleet(config, actor);
    if (run.error) throw new AppError("UNAVAILABLE", run.error);
    return json({ hosts: await hostsView(), probe: probeView() });
  } catch (e) {
    if (e instanceof AppError) throw e;
    console.error("[api] POST /api/hosts/refresh failed:", e);
    throw new AppError("UNAVAILABLE", "The hosts refresh failed on the server (database?); the server log has the details.");
  }
});
