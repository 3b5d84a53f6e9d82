import { getConfigState } from "@/lib/config";
import { getDb } from "@/lib/db";
import { json } from "@/lib/http";

export const dynamic = "force-dynamic";

/** Liveness and readiness: DB reachable, config loaded. Unauthenticated; reveals no secrets or paths. */
export async function GET() {
  let database: { ok: boolean; error?: string };
  try {
    await getDb().$queryRaw`SELECT 1`;
    database = { ok: true };
  } catch {
    database = { ok: false, error: "database unreachable" };
  }
  const state = getConfigState();
  const config =
    state.status === "ok"
      ? { status: state.reloadError ? "stale" : "ok", hosts: state.config.hosts.length, channels: state.config.channels.map((c) => c.name) }
      : { status: state.status };
  const ok = database.ok && state.status !== "invalid";
  return json({ ok, database, config }, ok ? 200 : 503);
}
