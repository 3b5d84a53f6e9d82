// The server is killed (SIGKILL) in the middle of a promotion and started again; the specs after
// this one talk to the restarted process.
import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { installedVersion, load, setRepositoryMode } from "./sandbox";
import { SANDBOX_DIR, SERVER_PID_FILE, TOKENS_FILE } from "./fixtures/env";
import { startServer } from "./fixtures/global-setup";

test("SIGKILL of the server mid-deployment: after a restart it is interrupted, its records intact, the hosts free", async ({ request }) => {
  test.setTimeout(120_000);
  const sb = await load(SANDBOX_DIR);
  const { admin } = JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as { admin: string };
  const headers = { authorization: `Bearer ${admin}` };
  const hosts = sb.hosts.map((h) => h.name);
  const target = sb.versions[0]!;

  // A repository that answers slowly keeps the first host inside `apt-get update` while we kill the server.
  await setRepositoryMode(sb, "slow", { delayMs: 4000 });
  let id: number;
  try {
    const start = await request.post("/api/channels/beta/promote", { headers, data: { version: target, reason: "crash test", override: true } });
    expect(start.status()).toBe(202);
    id = (await start.json()).deployment.id;
    await expect
      .poll(async () => ((await (await request.get(`/api/deployments/${id}`, { headers })).json()) as { counts: { running: number } }).counts.running, { timeout: 15_000 })
      .toBe(1);
    const pid = Number(readFileSync(SERVER_PID_FILE, "utf8"));
    process.kill(-pid, "SIGKILL");
  } finally {
    await setRepositoryMode(sb, "up");
  }
  // The host's own apt run goes on without the server; let it end before looking at the truth.
  await new Promise((r) => setTimeout(r, 6000));
  await startServer();

  let d: { status: string; error: string | null; targets: { host: string; status: string; reportedVersion: string | null; fromVersion: string | null; startedAt: string | null }[] } = { status: "", error: null, targets: [] };
  await expect
    .poll(
      async () => {
        d = await (await request.get(`/api/deployments/${id}`, { headers })).json();
        return d.status;
      },
      { timeout: 40_000, intervals: [1000] },
    )
    .toBe("interrupted");
  expect(d.error).toMatch(/runner stopped/);
  const interrupted = d.targets.filter((t) => t.status === "interrupted");
  expect(interrupted).toHaveLength(1);
  expect(interrupted[0]!.startedAt).not.toBeNull();
  expect(d.targets.filter((t) => t.status === "skipped")).toHaveLength(hosts.length - 1);
  // What recovery recorded after re-probing is what the host really runs.
  await expect.poll(async () => ((await (await request.get(`/api/deployments/${id}`, { headers })).json()) as typeof d).targets.find((t) => t.status === "interrupted")!.reportedVersion, { timeout: 15_000 }).toBe(
    await installedVersion(sb, interrupted[0]!.host),
  );

  const audit = await (await request.get("/api/audit?action=deployment.interrupted", { headers })).json();
  expect(audit.events[0]).toMatchObject({ action: "deployment.interrupted", actor: "system" });

  // The hosts are free again: a retry of the interrupted deployment runs to the end.
  const retry = await request.post(`/api/deployments/${id}/retry`, { headers, data: { reason: "after the crash" } });
  expect(retry.status()).toBe(202);
  const retryId = (await retry.json()).deployment.id as number;
  await expect.poll(async () => ((await (await request.get(`/api/deployments/${retryId}`, { headers })).json()) as { status: string }).status, { timeout: 45_000 }).toBe("succeeded");
  for (const h of hosts) expect(await installedVersion(sb, h)).toBe(target);
});
