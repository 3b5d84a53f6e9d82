// The deployment runner against a real sandbox cluster: real sshd, real apt and dpkg per host. The
// truth is read on each host with dpkg-query (installedVersion), never through the dashboard.
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installedVersion, setInstalled, startHost, stopHost } from "../../e2e/sandbox";
import { refreshBuilds } from "../apt/refresh";
import type { Actor } from "../audit/log";
import { DEFAULT_INSTALL_COMMAND, type AppConfig } from "../config-schema";
import { getDb } from "../db";
import { syncInventory } from "../fleet/inventory";
import { probeHosts } from "../fleet/probe";
import { closeFleetTransport } from "../fleet/ssh";
import { startSandbox, type FleetSandbox } from "../fleet/testing";
import { useTestDatabase } from "../testing/db";
import { cancelDeployment } from "./cancel";
import { getChannel } from "./channels";
import { promoteRequestSchema } from "./input";
import { planDeployment } from "./plan";
import { promoteBuild } from "./promote";
import { getDeployment } from "./queries";
import { recoverDeployments } from "./recover";
import { retryDeployment } from "./retry";
import { rollbackChannel } from "./rollback";
import { waitForRunner } from "./run";

const DEPLOYER: Actor = { id: null, name: "dana", source: "ui", role: "deployer" };
const ADMIN: Actor = { id: null, name: "ada", source: "ui", role: "admin" };
const VIEWER: Actor = { id: null, name: "vic", source: "ui", role: "viewer" };

let fx: FleetSandbox;
let config: AppConfig;
let V: string[];
let H: string[];

async function onHosts(): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const h of H) out[h] = await installedVersion(fx.sb, h);
  return out;
}

async function finished(id: number) {
  await waitForRunner(id);
  const d = await getDeployment(id);
  if (!d) throw new Error(`no deployment ${id}`);
  return d;
}

async function probe() {
  await probeHosts(config, DEPLOYER);
}

beforeAll(async () => {
  useTestDatabase();
  fx = await startSandbox(4);
  config = fx.config;
  V = fx.sb.versions;
  H = fx.sb.hosts.map((h) => h.name);
  await syncInventory(config);
  const r = await refreshBuilds(config.repository, DEPLOYER);
  expect(r.ok).toBe(true);
  await probe();
});

afterAll(async () => {
  await closeFleetTransport();
  await fx?.stop();
});

describe("input", () => {
  it.each([
    "4.81.0;touch /tmp/x",
    "$(touch /tmp/x)",
    "`touch /tmp/x`",
    "4.81'0",
    '4.81"0',
    "4.81.0\ntouch",
    "4.81.0\u0000",
    " 4.81.0",
    "",
  ])("refuses the version %j", (version) => {
    expect(promoteRequestSchema.safeParse({ version, reason: "ok" }).success).toBe(false);
  });

  it.each(["", "   ", "line\nbreak", "nul\u0000", "bell\u0007", "x".repeat(501)])("refuses the reason %j", (reason) => {
    expect(promoteRequestSchema.safeParse({ version: "4.81.0-1", reason }).success).toBe(false);
  });

  it("refuses unknown fields", () => {
    expect(promoteRequestSchema.safeParse({ version: "4.81.0-1", reason: "ok", hosts: ["x"] }).success).toBe(false);
  });
});

describe("refusals before any host is touched", () => {
  it("refuses a viewer, an unknown channel, an unknown build and a hostile version, and nothing runs", async () => {
    const marker = path.join(fx.dir, "MARK");
    const hostile = [`${V[2]};touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, `${V[2]}' ; touch '${marker}`];
    await expect(promoteBuild(config, VIEWER, "canary", { version: V[2]!, reason: "r" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(promoteBuild(config, DEPLOYER, "nope", { version: V[2]!, reason: "r" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(promoteBuild(config, DEPLOYER, "canary", { version: "9.9.9-1", reason: "r" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    for (const version of hostile) {
      await expect(promoteBuild(config, DEPLOYER, "canary", { version, reason: `$(touch ${marker})` })).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
    expect(existsSync(marker)).toBe(false);
    expect(await getDb().deployment.count()).toBe(0);
    expect(await getDb().hostLock.count()).toBe(0);
    expect(await onHosts()).toEqual(Object.fromEntries(H.map((h) => [h, V[1]])));
  });

  it("plans without running: canary changes only its host, beta is gated on canary", async () => {
    const canary = await planDeployment(config, "canary", V[2]!);
    expect(canary.change.map((h) => h.host)).toEqual([H[0]]);
    expect(canary.change[0]).toMatchObject({ from: V[1], status: "ok", batch: 0 });
    expect(canary.refusals).toEqual([]);
    expect(canary.download).toEqual({ ok: true, error: null });
    const beta = await planDeployment(config, "beta", V[2]!);
    expect(beta.change.map((h) => h.host)).toEqual(H);
    expect(beta.batches).toEqual([[H[0]], [H[1]], [H[2]], [H[3]]]);
    expect(beta.gate).toMatchObject({ requires: "canary", ok: false });
    expect(beta.refusals.map((r) => r.code)).toEqual(["gate"]);
    const down = await planDeployment(config, "canary", V[0]!);
    expect(down.warnings.join(" ")).toMatch(/downgrade/);
    expect(await getDb().deployment.count()).toBe(0);
  });

  it("refuses beta before canary with 409 naming the gate; only an admin may override", async () => {
    await expect(promoteBuild(config, DEPLOYER, "beta", { version: V[2]!, reason: "too early" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/has not succeeded on canary/) });
    await expect(promoteBuild(config, DEPLOYER, "beta", { version: V[2]!, reason: "too early", override: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await getDb().deployment.count()).toBe(0);
  });
});

describe("promotion, rollback", () => {
  it("promotes to canary: only the canary host changes, with the record, the SAL line and the audit", async () => {
    const started = await promoteBuild(config, DEPLOYER, "canary", { version: V[2]!, reason: "new build" });
    expect(started.salLine).toBe(`!log dana: Upgrading scap to ${V[2]} in beta cluster (canary): new build`);
    const d = await finished(started.id);
    expect(d).toMatchObject({ status: "succeeded", kind: "promote", channel: "canary", version: V[2], fromVersion: V[1], actor: "dana", salLine: started.salLine });
    expect(d.hosts).toEqual([expect.objectContaining({ host: H[0], status: "succeeded", fromVersion: V[1], toVersion: V[2], exitCode: 0, reportedVersion: V[2] })]);
    expect(d.hosts[0]!.output).toMatch(/scap/);
    expect(await onHosts()).toEqual({ [H[0]!]: V[2], [H[1]!]: V[1], [H[2]!]: V[1], [H[3]!]: V[1] });
    expect(await getDb().hostLock.count()).toBe(0);
    const actions = (await getDb().auditEvent.findMany({ where: { action: { startsWith: "deployment." } }, orderBy: { id: "asc" } })).map((e) => [e.action, e.actorName]);
    expect(actions).toEqual([
      ["deployment.start", "dana"],
      ["deployment.finish", "system"],
    ]);
    expect((await getChannel("canary"))?.currentVersion).toBe(V[2]);
  });

  it("promotes to beta once canary has it: every host changes", async () => {
    const d = await finished((await promoteBuild(config, DEPLOYER, "beta", { version: V[2]!, reason: "canary is fine" })).id);
    expect(d.status).toBe("succeeded");
    // The canary host already ran it: checked, not reinstalled.
    expect(d.hosts.find((h) => h.host === H[0])!.output).toMatch(/already runs/);
    expect(await onHosts()).toEqual(Object.fromEntries(H.map((h) => [h, V[2]])));
  });

  it("rolls beta back to the previous good version everywhere it changed", async () => {
    const beta = await getChannel("beta");
    expect(beta?.previousVersion).toBe(V[1]);
    const started = await rollbackChannel(config, DEPLOYER, "beta", { reason: "regression" });
    expect(started.salLine).toBe(`!log dana: Rolling back scap to ${V[1]} in beta cluster (beta): regression`);
    const d = await finished(started.id);
    expect(d).toMatchObject({ status: "succeeded", kind: "rollback", version: V[1], fromVersion: V[2] });
    expect(await onHosts()).toEqual(Object.fromEntries(H.map((h) => [h, V[1]])));
    expect((await getChannel("beta"))?.currentVersion).toBe(V[1]);
  });
});

describe("failures, threshold, retry", () => {
  const brokenList = () => path.join(fx.sb.hosts[1]!.root, "etc/apt/sources.list.d/broken.list");
  const fakeQuery = () => path.join(fx.sb.hosts[2]!.root, "usr/bin/dpkg-query");

  afterAll(async () => {
    rmSync(brokenList(), { force: true });
    rmSync(fakeQuery(), { force: true });
    await startHost(fx.sb, H[3]!);
  });

  it("each failing host fails with its own message and the threshold stops the run", async () => {
    // beta tolerates 1 failure: H[1]'s apt fails, H[2] reports another version → the second failure stops the run.
    writeFileSync(brokenList(), "this is not a sources line\n");
    mkdirSync(path.dirname(fakeQuery()), { recursive: true });
    writeFileSync(fakeQuery(), `#!/bin/sh\necho 'ii  1.0-1'\n`, { mode: 0o755 });
    const d = await finished((await promoteBuild(config, DEPLOYER, "beta", { version: V[2]!, reason: "with faults" })).id);
    const by = Object.fromEntries(d.hosts.map((h) => [h.host, h]));
    expect(by[H[0]!]).toMatchObject({ status: "succeeded", batch: 0 });
    expect(by[H[1]!]).toMatchObject({ status: "failed", errorKind: "install", exitCode: 100, error: expect.stringMatching(/^the install command failed \(exit status 100\): E: /) });
    expect(by[H[2]!]).toMatchObject({ status: "failed", errorKind: "verify", error: `installed ${V[2]} but the host reports 1.0-1`, reportedVersion: "1.0-1" });
    expect(by[H[3]!]).toMatchObject({ status: "skipped", error: expect.stringMatching(/more than 1 host/) });
    expect(d).toMatchObject({ status: "partial", error: "2 host(s) failed, 1 not started" });
    // H[2]'s fake dpkg-query hides its version here too; the next test reads it once the fake is gone.
    const on = await onHosts();
    expect([on[H[0]!], on[H[1]!], on[H[3]!]]).toEqual([V[2], V[1], V[1]]);
    expect(await getDb().hostLock.count()).toBe(0);
  });

  it("a retry takes the failed and skipped hosts; a stopped sshd fails with its own message", async () => {
    rmSync(brokenList(), { force: true });
    rmSync(fakeQuery(), { force: true });
    expect(await installedVersion(fx.sb, H[2]!)).toBe(V[2]);
    await stopHost(fx.sb, H[3]!);
    const last = (await getDb().deployment.findFirst({ orderBy: { id: "desc" } }))!;
    const d = await finished((await retryDeployment(config, DEPLOYER, last.id)).id);
    expect(d.retryOf).toBe(last.id);
    expect(d.reason).toBe(`retry of deployment ${last.id}: with faults`);
    expect(Object.fromEntries(d.hosts.map((h) => [h.host, h.status]))).toEqual({ [H[1]!]: "succeeded", [H[2]!]: "succeeded", [H[3]!]: "failed" });
    expect(d.hosts.find((h) => h.host === H[3])).toMatchObject({ errorKind: "unreachable", error: expect.stringMatching(/refused/) });
    expect(d.status).toBe("partial");
  });

  it("a retry completes a partial run", async () => {
    await startHost(fx.sb, H[3]!);
    const last = (await getDb().deployment.findFirst({ orderBy: { id: "desc" } }))!;
    const d = await finished((await retryDeployment(config, DEPLOYER, last.id)).id);
    expect(d.hosts.map((h) => [h.host, h.status])).toEqual([[H[3], "succeeded"]]);
    expect(d.status).toBe("succeeded");
    expect(await onHosts()).toEqual(Object.fromEntries(H.map((h) => [h, V[2]])));
    await expect(retryDeployment(config, DEPLOYER, d.id)).rejects.toMatchObject({ code: "CONFLICT" });
  });
});

describe("cancel, locks, timeouts, recovery", () => {
  const slow = (seconds: number): AppConfig => ({ ...config, commands: { ...config.commands, install: `sleep ${seconds}; ${DEFAULT_INSTALL_COMMAND}` } });

  it("cancel: no new host starts, the running one finishes, the rest are cancelled", async () => {
    const c = slow(1);
    // V[1] succeeded on beta before (the rollback above), so rolling back to it needs no gate.
    const started = await rollbackChannel(c, DEPLOYER, "beta", { version: V[1]!, reason: "back, slowly" });
    await new Promise((r) => setTimeout(r, 300));
    await cancelDeployment(DEPLOYER, started.id);
    const d = await finished(started.id);
    expect(d.status).toBe("cancelled");
    expect(d.cancelledBy).toBe("dana");
    expect(d.hosts[0]).toMatchObject({ status: "succeeded" });
    expect(d.hosts.slice(1).every((h) => h.status === "cancelled")).toBe(true);
    expect(await installedVersion(fx.sb, H[0]!)).toBe(V[1]);
    expect(await installedVersion(fx.sb, H[1]!)).toBe(V[2]);
    await expect(cancelDeployment(DEPLOYER, d.id)).rejects.toMatchObject({ code: "CONFLICT" });
  });

  it("one active deployment per host: 20 concurrent starts on canary and beta give exactly one", async () => {
    const c = slow(1);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => promoteBuild(c, DEPLOYER, i % 2 ? "beta" : "canary", { version: V[2]!, reason: `race ${i}` })),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.reason).toMatchObject({ code: "CONFLICT", message: expect.stringMatching(/deployment \d+/) });
    const id = (ok[0] as PromiseFulfilledResult<{ id: number }>).value.id;
    expect(await getDb().deployment.count({ where: { status: { in: ["queued", "running"] } } })).toBe(1);
    const d = await finished(id);
    expect(["succeeded"]).toContain(d.status);
    expect(await getDb().hostLock.count()).toBe(0);
  });

  it("a command past its timeout is stopped on the host itself", async () => {
    const marker = path.join(fx.dir, `still-running-${Date.now()}`);
    const c: AppConfig = { ...config, ssh: { ...config.ssh, commandTimeoutSeconds: 2 }, commands: { ...config.commands, install: `sleep 6; touch ${marker}; ${DEFAULT_INSTALL_COMMAND}` } };
    const t0 = Date.now();
    const d = await finished((await promoteBuild(c, DEPLOYER, "canary", { version: V[0]!, reason: "slow host" })).id);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(d.hosts[0]).toMatchObject({ status: "failed", errorKind: "timeout", exitCode: 124 });
    await new Promise((r) => setTimeout(r, 6_000));
    expect(existsSync(marker)).toBe(false);
    expect(await installedVersion(fx.sb, H[0]!)).toBe(V[2]);
  });

  it("recovery marks a deployment whose runner died interrupted, keeps its records, frees the hosts and re-probes them", async () => {
    const db = getDb();
    const host = await db.host.findUniqueOrThrow({ where: { name: H[0]! } });
    const channel = await db.channel.findUniqueOrThrow({ where: { name: "canary" } });
    // What a runner killed mid-install leaves behind: a running deployment, a running target, a lock, a lapsed lease.
    await setInstalled(fx.sb, H[0]!, V[0]!);
    const d = await db.deployment.create({
      data: { kind: "promote", channelId: channel.id, version: V[0]!, status: "running", reason: "killed", actorName: "dana", source: "ui", batchSize: 1, maxFailures: 0, runnerId: "dead:1:x", leaseUntil: new Date(Date.now() - 1000), startedAt: new Date() },
    });
    await db.deploymentTarget.create({ data: { deploymentId: d.id, hostId: host.id, batch: 0, fromVersion: V[2], toVersion: V[0]!, status: "running", output: "Unpacking scap ...", startedAt: new Date() } });
    await db.hostLock.create({ data: { hostId: host.id, deploymentId: d.id } });
    await expect(promoteBuild(config, DEPLOYER, "canary", { version: V[2]!, reason: "blocked" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringMatching(new RegExp(`deployment ${d.id} is running on ${H[0]}`, "i")) });

    const recovered = await recoverDeployments(config);
    expect(recovered).toEqual([{ id: d.id, running: [{ host: H[0], reportedVersion: V[0] }] }]);
    const after = await getDeployment(d.id);
    expect(after).toMatchObject({ status: "interrupted" });
    expect(after!.hosts[0]).toMatchObject({ status: "interrupted", output: "Unpacking scap ...", reportedVersion: V[0] });
    expect(await db.hostLock.count()).toBe(0);
    expect(await db.auditEvent.count({ where: { action: "deployment.interrupted", target: "canary" } })).toBe(1);
    // A live lease is left alone.
    expect(await recoverDeployments(config)).toEqual([]);
    const next = await finished((await promoteBuild(config, DEPLOYER, "canary", { version: V[2]!, reason: "after the crash" })).id);
    expect(next.status).toBe("succeeded");
  });
});

describe("override", () => {
  it("an admin may go past the gate, and the override is recorded", async () => {
    await expect(promoteBuild(config, DEPLOYER, "beta", { version: V[0]!, reason: "hotfix", override: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const started = await promoteBuild(config, ADMIN, "beta", { version: V[0]!, reason: "hotfix", override: true });
    const d = await finished(started.id);
    expect(d).toMatchObject({ status: "succeeded", override: true, actor: "ada" });
    const event = await getDb().auditEvent.findFirstOrThrow({ where: { action: "deployment.start" }, orderBy: { id: "desc" } });
    expect(JSON.parse(event.payload)).toMatchObject({ deploymentId: started.id, override: true, reason: "hotfix" });
    expect(await onHosts()).toEqual(Object.fromEntries(H.map((h) => [h, V[0]])));
  });
});

describe("health check and reasons", () => {
  it("runs the health check after the read-back; a failing one fails the host with the version installed", async () => {
    const ok: AppConfig = { ...config, commands: { ...config.commands, healthCheck: "scap version" } };
    const good = await finished((await promoteBuild(ok, DEPLOYER, "canary", { version: V[1]!, reason: "healthy" })).id);
    expect(good.hosts[0]).toMatchObject({ status: "succeeded", output: expect.stringContaining("$ health check") });
    const bad: AppConfig = { ...config, commands: { ...config.commands, healthCheck: "echo unhealthy >&2; exit 3" } };
    const d = await finished((await promoteBuild(bad, DEPLOYER, "canary", { version: V[2]!, reason: "unhealthy" })).id);
    expect(d.hosts[0]).toMatchObject({ status: "failed", errorKind: "health", exitCode: 3, reportedVersion: V[2], error: expect.stringMatching(/health check failed \(exit status 3\): unhealthy/) });
    expect(d.status).toBe("partial");
  });

  it("a reason full of shell syntax is only text: recorded verbatim, never run", async () => {
    const marker = path.join(fx.dir, "REASON-MARK");
    const reason = `$(touch ${marker}); \`touch ${marker}\` | touch ${marker} 'quoted' "double"`;
    const started = await promoteBuild(config, DEPLOYER, "canary", { version: V[1]!, reason });
    expect(started.salLine.endsWith(`(canary): ${reason}`)).toBe(true);
    const d = await finished(started.id);
    expect(d).toMatchObject({ status: "succeeded", reason });
    expect(existsSync(marker)).toBe(false);
  });
});

describe("runner robustness", () => {
  const slow = (seconds: number): AppConfig => ({ ...config, commands: { ...config.commands, install: `sleep ${seconds}; ${DEFAULT_INSTALL_COMMAND}` } });

  it("a replaced shared transport (a config reload) does not end a running deployment", async () => {
    const started = await promoteBuild(slow(1), ADMIN, "beta", { version: V[2]!, reason: "through a reload", override: true });
    await new Promise((r) => setTimeout(r, 300));
    await closeFleetTransport();
    const d = await finished(started.id);
    expect(d.status).toBe("succeeded");
    expect(d.hosts.every((h) => h.status === "succeeded")).toBe(true);
  });

  it("a runner whose deployment was taken over stops starting hosts and writes nothing more", async () => {
    const started = await promoteBuild(slow(1), ADMIN, "beta", { version: V[1]!, reason: "taken over", override: true });
    await new Promise((r) => setTimeout(r, 300));
    // What another process's recovery does once it decided this runner was dead.
    await getDb().deployment.update({ where: { id: started.id }, data: { status: "interrupted", runnerId: null, leaseUntil: null } });
    await waitForRunner(started.id);
    const d = (await getDeployment(started.id))!;
    expect(d.status).toBe("interrupted");
    // The host that was installing keeps the "running" its record had when it was taken over; none after it started.
    expect(d.hosts.filter((h) => h.status === "pending")).toHaveLength(H.length - 1);
    expect(d.hosts[0]!.status).toBe("running");
    await getDb().hostLock.deleteMany({ where: { deploymentId: started.id } });
  });

  it("a host already on the version is health-checked, not waved through", async () => {
    const bad: AppConfig = { ...config, commands: { ...config.commands, healthCheck: "exit 7" } };
    await probeHosts(config, DEPLOYER);
    const current = await installedVersion(fx.sb, H[0]!);
    const d = await finished((await promoteBuild(bad, ADMIN, "canary", { version: current!, reason: "same version", override: true })).id);
    expect(d.hosts[0]).toMatchObject({ status: "failed", errorKind: "health", exitCode: 7, output: expect.stringContaining("already runs") });
  });
});

