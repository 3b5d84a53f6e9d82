import { apiCaller } from "@/lib/auth/guard";
import { configProblemFor } from "@/lib/auth/config-details";
import { getConfigState } from "@/lib/config";
import { getDb } from "@/lib/db";
import { json } from "@/lib/http";

export const dynamic = "force-dynamic";

/**
 * Liveness and readiness: DB reachable, config loaded. Needs no sign-in and reveals no secrets; a
 * configuration problem is described in full (with its paths) to an admin's session or token only.
 */
export async function GET(request: Request) {
  let database: { ok: boolean; error?: string };
  try {
    await getDb().$queryRaw`SELECT 1`;
    database = { ok: true };
  } catch {
    database = { ok: false, error: "database unreachable" };
  }
  const state = getConfigState();
  const problem = state.status === "invalid" ? state.error.message : state.status === "ok" ? state.reloadError : undefined;
  const role = problem && database.ok ? await apiCaller(request).then((c) => c?.user.role, () => undefined) : undefined;
  const config =
    state.status === "ok"
      ? { status: state.reloadError ? "stale" : "ok", hosts: state.config.hosts.length, channels: state.config.channels.map((c) => c.name) }
      : { status: state.status };
  const ok = database.ok && state.status !== "invalid";
  return json({ ok, database, config: problem ? { ...config, error: configProblemFor(role, problem) } : config }, ok ? 200 : 503);
}
