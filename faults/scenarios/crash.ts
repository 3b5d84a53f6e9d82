// 1. The server is killed (SIGKILL: no clean-up) in the middle of a promotion, a repository refresh
// and an audit export; after `npm start` again nothing is lost and nothing is left half-done.
import { hostCommands, setRepositoryMode, publishBuild } from "../../e2e/sandbox";
import { assertChainVerifies, assertConsistent, check, count, deployment, promote, ROOT, sleep, TSX, truth, until, waitFinished, type DeploymentView } from "../harness";
import type { Scenario } from "../index";
import type { Suite } from "../suite";
import { execFileSync } from "node:child_process";

/** Waits until no command started over SSH runs on any of the hosts any more (the sessions of a killed server end by themselves). */
export async function hostsIdle(suite: Suite, hosts: readonly string[], ms: number): Promise<number> {
  const t0 = Date.now();
  await until(`the hosts' own commands to end`, ms, async () => {
    for (const h of hosts) if ((await hostCommands(suite.sb, h)).some((p) => !p.cmdline.startsWith("sshd:"))) return undefined;
    return true;
  }, 500);
  return (Date.now() - t0) / 1000;
}

/** A version that differs from what every host in `hosts` runs now, to promote to. */
export async function otherVersion(suite: Suite, hosts: readonly string[]): Promise<{ from: Map<string, string | null>; to: string }> {
  const from = await truth(suite.sb, hosts);
  const to = [...suite.versions].reverse().find((v) => [...from.values()].every((f) => f !== v));
  check(to, `no published version differs from what ${hosts.join(", ")} run`);
  return { from, to };
}

const midPromotion: Scenario = {
  id: "1a",
  title: "SIGKILL mid-batch of a 20-host promotion, then start again",
  async run(suite, log) {
    const { app, tokens, sb, hosts } = suite;
    const { to } = await otherVersion(suite, hosts);
    // A slow repository keeps hosts inside apt-get update, so the kill lands while they install.
    await setRepositoryMode(sb, "slow", { delayMs: 1500 });
    const t0 = Date.now();
    const id = await promote(app, tokens.admin, "beta", to, "fault suite: crash mid-batch", { override: true });
    let at: DeploymentView;
    try {
      at = await until("the second batch to be installing", 90_000, async () => {
        const d = await deployment(app, tokens.admin, id);
        return (d.counts.succeeded ?? 0) >= 5 && (d.counts.running ?? 0) >= 1 ? d : undefined;
      }, 200);
      await app.kill();
    } finally {
      await setRepositoryMode(sb, "up");
    }
    const killedAt = (Date.now() - t0) / 1000;
    log(`killed ${killedAt.toFixed(1)} s in: ${at.counts.succeeded} succeeded, ${at.counts.running} running, ${at.counts.pending} pending`);
    const idle = await hostsIdle(suite, hosts, 60_000);

    const r0 = Date.now();
    await app.start();
    const d = await until("the deployment to be interrupted after the restart", 60_000, async () => {
      const v = await deployment(app, tokens.admin, id);
      return v.status === "interrupted" ? v : undefined;
    }, 500);
    const noticed = (Date.now() - r0) / 1000;
    check(count(app, "SELECT count(*) AS n FROM HostLock") === 0, "host locks remain after recovery");
    check(d.targets.every((t) => !["pending", "running"].includes(t.status)), `targets left open: ${d.targets.filter((t) => ["pending", "running"].includes(t.status)).map((t) => t.host).join(", ")}`);
    check(d.targets.some((t) => t.status === "interrupted"), "no target was recorded interrupted, though hosts were installing at the kill");
    // After recovery's re-probe, every record says what the host really runs.
    const real = await truth(sb, hosts);
    const final = await until("recovery's re-probe to record what each interrupted host runs", 30_000, async () => {
      const v = await deployment(app, tokens.admin, id);
      return v.targets.filter((t) => t.status === "interrupted").every((t) => t.reportedVersion !== null || real.get(t.host) === null) ? v : undefined;
    });
    for (const t of final.targets) {
      if (t.status === "succeeded" || t.status === "interrupted") check(t.reportedVersion === real.get(t.host), `${t.host} (${t.status}): recorded ${t.reportedVersion}, dpkg-query says ${real.get(t.host)}`);
      if (t.status === "skipped") check(real.get(t.host) === t.fromVersion, `${t.host} was skipped yet runs ${real.get(t.host)} (was ${t.fromVersion})`);
    }
    assertConsistent(app);
    await assertChainVerifies(app, tokens.admin);
    const interruptedEvents = count(app, "SELECT count(*) AS n FROM AuditEvent WHERE action = 'deployment.interrupted' AND json_extract(payload, '$.deploymentId') = ?", id);
    check(interruptedEvents >= 1, "no deployment.interrupted audit event");

    const p0 = Date.now();
    const again = await waitFinished(app, tokens.admin, await promote(app, tokens.admin, "beta", to, "fault suite: after the crash", { override: true }), 180_000);
    check(again.status === "succeeded", `the promotion after the crash ended ${again.status}: ${again.error}`);
    const after = await truth(sb, hosts);
    const off = hosts.filter((h) => after.get(h) !== to);
    check(off.length === 0, `after the new promotion ${off.join(", ")} do not run ${to}`);
    const c = final.counts;
    return [
      `killed ${killedAt.toFixed(1)} s in (${at.counts.succeeded} done, ${at.counts.running} installing)`,
      `record after: ${c.succeeded ?? 0} succeeded, ${c.interrupted ?? 0} interrupted, ${c.skipped ?? 0} skipped, 0 locks`,
      `hosts' own commands ended ${idle.toFixed(1)} s after the kill`,
      `interrupted ${noticed.toFixed(1)} s after npm start`,
      `new promotion of 20 hosts ${((Date.now() - p0) / 1000).toFixed(1)} s, all on ${to.split("-")[0]}`,
    ];
  },
};

const midRefresh: Scenario = {
  id: "1b",
  title: "SIGKILL during a repository refresh",
  async run(suite, log) {
    const { app, tokens, sb } = suite;
    const before = await app.get("/api/builds", tokens.admin);
    const versionsBefore = (before.json.builds as { version: string }[]).map((b) => b.version).sort();
    const next = "4.82.0-1+0~20261202080000.1~1.gbpfa1700";
    await publishBuild(sb, next);
    suite.versions.splice(0, suite.versions.length, ...sb.versions);
    await setRepositoryMode(sb, "slow", { delayMs: 3000 });
    let refresh: Promise<unknown> | null = null;
    try {
      refresh = app.post("/api/builds/refresh", tokens.admin, { force: true }).catch((e: Error) => e);
      await sleep(1500);
      await app.kill();
      await refresh;
    } finally {
      await setRepositoryMode(sb, "up");
    }
    await app.start();
    const afterKill = await app.get("/api/builds", tokens.admin);
    check(afterKill.status === 200, `GET /api/builds after the restart answered ${afterKill.status}`);
    const versionsAfter = (afterKill.json.builds as { version: string }[]).map((b) => b.version).sort();
    check(JSON.stringify(versionsAfter) === JSON.stringify(versionsBefore), `the build list changed by a killed refresh: before ${versionsBefore.join(", ")}, after ${versionsAfter.join(", ")}`);
    assertConsistent(app);
    const r = await app.post("/api/builds/refresh", tokens.admin, { force: true });
    check(r.status === 200 && r.json.outcome.ok, `the refresh after the restart: ${r.status} ${r.text.slice(0, 300)}`);
    const listed = (r.json.builds as { version: string }[]).map((b) => b.version);
    check(listed.includes(next), `the refresh after the restart does not list ${next}`);
    log(`builds before ${versionsBefore.length}, after the kill ${versionsAfter.length}, after a new refresh ${listed.length}`);
    return [`killed 1.5 s into a refresh (repository answering after 3 s)`, `build list after restart unchanged (${versionsAfter.length} builds)`, `next refresh ok, lists the new build`];
  },
};

const midExport: Scenario = {
  id: "1c",
  title: "SIGKILL during an audit export",
  async run(suite, log) {
    const { app, tokens } = suite;
    // Enough history that the export is still streaming when the server dies; written by the app's audit writer.
    await app.stop();
    execFileSync("npx", [...TSX, "bench/http/seed.ts", "audit", "15000"], { cwd: ROOT, env: app.env(), stdio: ["ignore", "ignore", "inherit"] });
    await app.start();
    const events = count(app, "SELECT count(*) AS n FROM AuditEvent");
    const res = await fetch(`${app.url}/api/audit/export?format=csv`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    check(res.status === 200 && res.body, `export answered ${res.status}`);
    const reader = res.body.getReader();
    let got = 0;
    while (got < 64 * 1024) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.byteLength;
    }
    // Reading stops here: the server is mid-stream, held by backpressure, when it dies.
    await app.kill();
    let rest = 0;
    let ended = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += value.byteLength;
      }
      ended = "ended";
    } catch (e) {
      ended = (e as Error).message;
    }
    await app.start();
    const after = count(app, "SELECT count(*) AS n FROM AuditEvent");
    check(after >= events, `audit events lost: ${events} before, ${after} after`);
    await assertChainVerifies(app, tokens.admin);
    const again = await fetch(`${app.url}/api/audit/export?format=csv`, { headers: { authorization: `Bearer ${tokens.admin}` } });
    const text = await again.text();
    const lines = text.trimEnd().split("\n").length - 1;
    check(again.status === 200 && lines >= events, `the export after the restart has ${lines} rows for ${events} events`);
    log(`${events} events; ${got + rest} bytes read before the stream broke (${ended})`);
    return [`${events} events; killed after ${(got / 1024).toFixed(0)} KiB of CSV`, `stream broke for the client, chain verifies, 0 events lost`, `export after restart: ${lines} rows`];
  },
};

export const CRASH: Scenario[] = [midPromotion, midRefresh, midExport];
