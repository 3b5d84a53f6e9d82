import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { changeHostKey, hangHost, installedVersion, setInstalled, startHost, stopHost } from "../../e2e/sandbox";
import { SYSTEM_ACTOR, type Actor } from "../audit/log";
import type { AppConfig } from "../config";
import { getDb } from "../db";
import { listChannels } from "../deploy/channels";
import { useTestDatabase } from "../testing/db";
import { classifyProbe, getProbeProgress, probeFleet, probeHosts, startProbeTimer } from "./probe";
import { listHosts } from "../deploy/fleet-view";
import { closeFleetTransport, getFleetTransport, SshError, type ExecResult } from "./ssh";
import { knownHostsVariant, startSandbox, type FleetSandbox } from "./testing";

const ACTOR: Actor = { id: null, name: "alice", source: "ui", role: "deployer", ip: "127.0.0.1" };
const result = (r: Partial<ExecResult>): ExecResult => ({ host: "h", exitCode: 0, signal: null, stdout: "", stderr: "", durationMs: 5, truncated: false, ...r });

describe("classifyProbe", () => {
  it("reads a version, the absence of the package, and everything else", () => {
    expect(classifyProbe(result({ stdout: "4.80.0-1+0~20261120093000.1~1.gbpabc123\n" }))).toEqual({
      status: "ok",
      version: "4.80.0-1+0~20261120093000.1~1.gbpabc123",
      errorKind: null,
      error: null,
    });
    expect(classifyProbe(result({ exitCode: 1, stderr: "dpkg-query: no packages found matching scap\n" })).status).toBe("not-installed");
    expect(classifyProbe(result({ exitCode: 1, stderr: "dpkg-query: package 'scap' is not installed\n" })).status).toBe("not-installed");
    expect(classifyProbe(result({ stdout: "" }))).toMatchObject({ status: "unknown", errorKind: "bad-output", error: "the version command printed nothing" });
    expect(classifyProbe(result({ stdout: "1.0; rm -rf /" }))).toMatchObject({ status: "unknown", errorKind: "bad-output" });
    expect(classifyProbe(result({ exitCode: 2, stderr: "dpkg-query: error: parsing file '/var/lib/dpkg/status'" }))).toMatchObject({
      status: "unknown",
      errorKind: "exit-status",
      error: "the version command failed (exit status 2): dpkg-query: error: parsing file '/var/lib/dpkg/status'",
    });
    expect(classifyProbe(result({ exitCode: 1, stderr: "sh: 1: dpkg-query: Permission denied" })).status).toBe("unknown");
    expect(classifyProbe(result({ exitCode: null, signal: "SIGKILL" })).error).toMatch(/killed by SIGKILL/);
  });

  it("understands dpkg's status abbreviation when the version command prints it", () => {
    expect(classifyProbe(result({ stdout: "ii  4.80.0-1" }))).toMatchObject({ status: "ok", version: "4.80.0-1" });
    expect(classifyProbe(result({ stdout: "rc  4.80.0-1" })).status).toBe("not-installed");
    expect(classifyProbe(result({ stdout: "iU  4.80.0-1" }))).toMatchObject({ status: "unknown", errorKind: "package-state" });
  });

  it.each([
    // A package dpkg knows but never installed (or purged) has no version: the line ends after the abbreviation.
    ["un ", { status: "not-installed", version: null, errorKind: null }],
    ["pn ", { status: "not-installed", version: null, errorKind: null }],
    ["un  ", { status: "not-installed", version: null, errorKind: null }],
    ["un \n", { status: "not-installed", version: null, errorKind: null }],
    ["un", { status: "not-installed", version: null, errorKind: null }],
    ["rc  1.0-1", { status: "not-installed", version: null, errorKind: null }],
    ["iU  1.0-1", { status: "unknown", version: null, errorKind: "package-state" }],
    ["iF  1.0-1\n", { status: "unknown", version: null, errorKind: "package-state" }],
    ["ii  1.0-1", { status: "ok", version: "1.0-1", errorKind: null }],
    ["ii  1.0-1\n", { status: "ok", version: "1.0-1", errorKind: null }],
    ["ii  1.0-1\nii  2.0-1\n", { status: "unknown", version: null, errorKind: "bad-output" }],
  ] as const)("reads the status abbreviation %j", (stdout, expected) => {
    expect(classifyProbe(result({ stdout }))).toMatchObject(expected);
  });

  it("maps SSH failures to unreachable or unknown with the transport's message", () => {
    const err = (kind: SshError["kind"], message: string) => new SshError({ kind, host: "beta01", message: `beta01: ${message}`, durationMs: 3, stderr: "partial" });
    expect(classifyProbe(err("refused", "connection refused at 127.0.0.1:22"))).toEqual({ status: "unreachable", version: null, errorKind: "refused", error: "connection refused at 127.0.0.1:22" });
    for (const kind of ["connect-timeout", "auth", "host-key-unknown", "host-key-changed", "host-key-revoked", "dns", "network"] as const) {
      expect(classifyProbe(err(kind, "x")).status).toBe("unreachable");
    }
    expect(classifyProbe(err("command-timeout", "command timed out"))).toEqual({ status: "unknown", version: null, errorKind: "command-timeout", error: "command timed out; output: partial" });
  });

  it("keeps the text of a fault of its own out of the observation, and logs it", () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const boom = new Error("boom at /srv/app/lib/secret.ts:12");
      expect(classifyProbe(boom, "beta01")).toEqual({ status: "unknown", version: null, errorKind: "internal", error: "unexpected error; the server log has the details" });
      expect(logged).toHaveBeenCalledWith(expect.stringContaining("beta01"), boom);
    } finally {
      logged.mockRestore();
    }
  });
});

describe("probing the sandbox cluster", () => {
  let fx: FleetSandbox;
  let config: AppConfig;

  beforeAll(async () => {
    useTestDatabase();
    fx = await startSandbox(6, (ssh) => {
      ssh.connectTimeoutSeconds = 2;
    });
    config = fx.config;
  });

  afterAll(async () => {
    await closeFleetTransport();
    await fx?.stop();
  });

  it("records every host's version, with an audit event in the same run", async () => {
    const run = await probeHosts(config, ACTOR);
    const installed = fx.sb.versions[1]!;
    expect(run.counts).toEqual({ ok: 6, notInstalled: 0, unreachable: 0, unknown: 0 });
    expect(run.hosts.every((h) => h.version === installed)).toBe(true);
    expect(run.changed).toEqual([]);
    expect(run.inventory.changed).toBe(true);
    const events = await getDb().auditEvent.findMany({ where: { action: "hosts.refresh" } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorName: "alice", source: "ui", ip: "127.0.0.1", target: null });
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ hosts: 6, ok: 6, notInstalled: 0, unreachable: 0, unknown: 0, changed: [] });
  });

  it("tells versions, missing packages and each way a host can be unreachable apart", async () => {
    const [v0, , v2] = fx.sb.versions;
    await setInstalled(fx.sb, "beta02", v2!);
    await setInstalled(fx.sb, "beta03", null);
    await setInstalled(fx.sb, "beta01", v0!);
    await stopHost(fx.sb, "beta04");
    await hangHost(fx.sb, "beta05");
    await changeHostKey(fx.sb, "beta06");

    const t0 = Date.now();
    const run = await probeHosts(config, ACTOR);
    // The hanging host costs one connect timeout (2 s), in parallel with the others.
    expect(Date.now() - t0).toBeLessThan(4000);
    const by = Object.fromEntries(run.hosts.map((h) => [h.host, h]));
    expect(by.beta01).toMatchObject({ status: "ok", version: await installedVersion(fx.sb, "beta01") });
    expect(by.beta02).toMatchObject({ status: "ok", version: await installedVersion(fx.sb, "beta02") });
    expect(by.beta03).toMatchObject({ status: "not-installed", version: null });
    expect(by.beta04).toMatchObject({ status: "unreachable", errorKind: "refused" });
    expect(by.beta04!.error).toMatch(/^connection refused at/);
    expect(by.beta05).toMatchObject({ status: "unreachable", errorKind: "connect-timeout" });
    expect(by.beta05!.error).toMatch(/no SSH handshake within 2s/);
    expect(by.beta05!.durationMs).toBeGreaterThanOrEqual(1900);
    expect(by.beta05!.durationMs).toBeLessThan(3000);
    expect(by.beta06).toMatchObject({ status: "unreachable", errorKind: "host-key-changed" });
    expect(by.beta06!.error).toMatch(/host key CHANGED/);
    expect(run.counts).toEqual({ ok: 2, notInstalled: 1, unreachable: 3, unknown: 0 });
    const v1 = fx.sb.versions[1]!;
    expect(run.changed).toEqual([
      { host: "beta01", from: v1, to: v0 },
      { host: "beta02", from: v1, to: v2 },
      { host: "beta03", from: v1, to: null },
    ]);

    const event = await getDb().auditEvent.findFirstOrThrow({ where: { action: "hosts.refresh" }, orderBy: { id: "desc" } });
    expect(JSON.parse(event.payload)).toMatchObject({ hosts: 6, ok: 2, notInstalled: 1, unreachable: 3, unknown: 0, changed: run.changed });
  });

  it("keeps the history and shows the newest observation per host", async () => {
    expect(await getDb().hostObservation.count()).toBe(12);
    const beta04 = await getDb().host.findUniqueOrThrow({ where: { name: "beta04" }, include: { observations: { orderBy: { id: "asc" } } } });
    expect(beta04.observations.map((o) => o.status)).toEqual(["ok", "unreachable"]);

    const hosts = await listHosts();
    expect(hosts.map((h) => [h.name, h.status, h.errorKind])).toEqual([
      ["beta01", "ok", null],
      ["beta02", "ok", null],
      ["beta03", "not-installed", null],
      ["beta04", "unreachable", "refused"],
      ["beta05", "unreachable", "connect-timeout"],
      ["beta06", "unreachable", "host-key-changed"],
    ]);
    const beta = (await listChannels()).find((c) => c.name === "beta")!;
    expect(beta).toMatchObject({ currentSource: "observed", unverified: 3 });
  });

  it("reports an unknown host key as unreachable with its own message", async () => {
    const knownHostsPath = knownHostsVariant(fx, "kh-without-beta01", (lines) => lines.filter((l) => !l.includes(",beta01 ")));
    const run = await probeHosts({ ...config, ssh: { ...config.ssh, knownHostsPath } }, ACTOR, { hosts: ["beta01", "beta02"] });
    expect(run.hosts.map((h) => [h.host, h.status, h.errorKind])).toEqual([
      ["beta01", "unreachable", "host-key-unknown"],
      ["beta02", "ok", null],
    ]);
    expect(run.hosts[0]!.error).toMatch(/host key is unknown/);
    const event = await getDb().auditEvent.findFirstOrThrow({ where: { action: "hosts.refresh" }, orderBy: { id: "desc" } });
    expect(event.target).toBe("beta01,beta02");
    await expect(probeHosts(config, ACTOR, { hosts: ["nope"] })).rejects.toThrow(/No such host/);
  });

  it("runs in the background, joining a probe already running", async () => {
    const before = (await getDb().auditEvent.findFirstOrThrow({ orderBy: { id: "desc" } })).id;
    const first = probeFleet(config, SYSTEM_ACTOR);
    const progress = getProbeProgress()!;
    expect(progress).toMatchObject({ running: true, total: 6, busy: [] });
    const second = probeFleet(config, SYSTEM_ACTOR);
    expect(getProbeProgress()!.id).toBe(progress.id);
    const done = await probeFleet(config, ACTOR);
    expect(done).toMatchObject({ id: progress.id, running: false, done: 6, total: 6, counts: { ok: 2, notInstalled: 1, unreachable: 3, unknown: 0 } });
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect(await first).toEqual(done);
    expect(await second).toEqual(done);
    // beta01 is reachable again (the last probe used another known_hosts): the run records its own
    // event, and the person who joined it gets one of theirs with the same outcome.
    const events = await getDb().auditEvent.findMany({ where: { action: "hosts.refresh", id: { gt: before } }, orderBy: { id: "asc" } });
    expect(events.map((e) => [e.actorName, e.source])).toEqual([
      ["system", "system"],
      ["alice", "ui"],
    ]);
    expect(events[1]).toMatchObject({ ip: "127.0.0.1", target: null });
    expect(JSON.parse(events[1]!.payload)).toEqual({ ...JSON.parse(events[0]!.payload), joined: true });
  });

  it("records a person's refresh that joined a scheduled probe which saw nothing new", async () => {
    const audits = () => getDb().auditEvent.findMany({ where: { action: "hosts.refresh" }, orderBy: { id: "asc" } });
    const before = (await audits()).length;
    const scheduled = probeFleet(config, SYSTEM_ACTOR);
    const done = await probeFleet(config, ACTOR);
    await scheduled;
    const events = (await audits()).slice(before);
    expect(events.map((e) => e.actorName)).toEqual(["alice"]);
    expect(JSON.parse(events[0]!.payload)).toMatchObject({ hosts: 6, ...done.counts, changed: [], joined: true });

    // Joining one's own run adds nothing: the run's event already names the person.
    const own = probeFleet(config, ACTOR);
    await probeFleet(config, ACTOR);
    await own;
    const mine = (await audits()).slice(before + 1);
    expect(mine.map((e) => [e.actorName, JSON.parse(e.payload).joined])).toEqual([["alice", undefined]]);
  });

  it("probes on a timer without overlapping", async () => {
    // Each probe run stores one observation per host.
    const n = config.hosts.length;
    const count = () => getDb().hostObservation.count();
    const before = await count();
    // The timer's first tick comes while this probe runs: it joins it rather than starting another.
    const running = probeFleet(config, ACTOR);
    const runId = getProbeProgress()!.id;
    let replacedTicks = 0;
    let ticks = 0;
    const replaced = startProbeTimer(() => {
      replacedTicks++;
      return config;
    });
    // Starting again replaces the timer, as the builds timer does.
    const timer = startProbeTimer(() => {
      ticks++;
      return config;
    });
    try {
      expect(timer).not.toBe(replaced);
      await running;
      await new Promise((r) => setTimeout(r, 300));
      expect([replacedTicks, ticks]).toEqual([0, 1]);
      expect(getProbeProgress()).toMatchObject({ id: runId, running: false });
      expect(await count()).toBe(before + n);
    } finally {
      timer.stop();
    }
    // A tick with nothing running starts a probe of its own.
    const timer2 = startProbeTimer(() => config);
    try {
      const deadline = Date.now() + 10_000;
      while ((await count()) === before + n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await count()).toBe(before + 2 * n);
    } finally {
      timer2.stop();
    }
    // Let that probe end before the next test starts its own.
    while (getProbeProgress()!.running) await new Promise((r) => setTimeout(r, 50));
  });

  it("audits a scheduled probe only when it saw something new, and a person's probe always", async () => {
    const audits = () => getDb().auditEvent.count({ where: { action: "hosts.refresh" } });
    await probeHosts(config, SYSTEM_ACTOR);
    const before = await audits();
    await probeHosts(config, SYSTEM_ACTOR);
    expect(await audits()).toBe(before);
    await probeHosts(config, ACTOR);
    expect(await audits()).toBe(before + 1);
    await stopHost(fx.sb, "beta01");
    try {
      await probeHosts(config, SYSTEM_ACTOR);
      expect(await audits()).toBe(before + 2);
    } finally {
      await startHost(fx.sb, "beta01");
    }
  });

  it("refuses a viewer before touching anything", async () => {
    const viewer: Actor = { id: null, name: "v", source: "ui", role: "viewer" };
    const db = getDb();
    const state = async () => ({ audits: await db.auditEvent.count(), observations: await db.hostObservation.count(), progress: getProbeProgress() });
    const before = await state();
    await expect(probeHosts(config, viewer)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(probeFleet(config, viewer)).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect(await state()).toEqual(before);
  });

  it("leaves hosts a running deployment holds alone, and keeps their last observation", async () => {
    const db = getDb();
    const ids = Object.fromEntries((await db.host.findMany({ select: { id: true, name: true } })).map((h) => [h.name, h.id]));
    const beta = await db.channel.findUniqueOrThrow({ where: { name: "beta" } });
    const deployment = (status: string, targets: { host: string; status: string }[]) =>
      db.deployment.create({
        data: {
          kind: "promote",
          channelId: beta.id,
          version: fx.sb.versions[2]!,
          status,
          reason: "test",
          actorName: "alice",
          source: "ui",
          batchSize: 1,
          maxFailures: 0,
          targets: { create: targets.map((t, i) => ({ hostId: ids[t.host]!, batch: i, toVersion: fx.sb.versions[2]!, status: t.status })) },
        },
      });
    const running = await deployment("running", [
      { host: "beta02", status: "running" },
      { host: "beta03", status: "pending" },
    ]);
    // A target left "running" by a deployment that has ended holds nothing.
    const ended = await deployment("interrupted", [{ host: "beta04", status: "running" }]);
    const last = await db.hostObservation.findFirstOrThrow({ where: { hostId: ids.beta02 }, orderBy: { id: "desc" } });
    try {
      const run = await probeHosts(config, ACTOR);
      expect(run.busy).toEqual([{ host: "beta02", holder: `deployment ${running.id}` }]);
      expect(run.hosts.map((h) => h.host)).toEqual(["beta01", "beta03", "beta04", "beta05", "beta06"]);
      expect((await db.hostObservation.findFirstOrThrow({ where: { hostId: ids.beta02 }, orderBy: { id: "desc" } })).id).toBe(last.id);
      const event = await db.auditEvent.findFirstOrThrow({ where: { action: "hosts.refresh" }, orderBy: { id: "desc" } });
      expect(JSON.parse(event.payload)).toMatchObject({ hosts: 5, busy: [{ host: "beta02", holder: `deployment ${running.id}` }] });

      const done = await probeFleet(config, ACTOR);
      expect(done).toMatchObject({ running: false, done: 6, total: 6, busy: [{ host: "beta02", holder: `deployment ${running.id}` }] });
      expect(Object.values(done.counts!).reduce((a, b) => a + b, 0)).toBe(5);

      // A host another caller holds over SSH (an install the database does not show yet) fails at
      // once rather than queueing behind it, and gets no observation either.
      const beta01 = config.hosts.find((h) => h.name === "beta01")!;
      const lastOfBeta01 = await db.hostObservation.findFirstOrThrow({ where: { hostId: ids.beta01 }, orderBy: { id: "desc" } });
      let release!: () => void;
      const held = getFleetTransport(config.ssh).withHost(beta01, () => new Promise<void>((r) => (release = r)), { holder: "deployment 99" });
      try {
        const t0 = Date.now();
        const whileHeld = await probeHosts(config, ACTOR, { hosts: ["beta01", "beta03"] });
        expect(Date.now() - t0).toBeLessThan(3000);
        expect(whileHeld.busy).toEqual([{ host: "beta01", holder: "deployment 99" }]);
        expect(whileHeld.hosts.map((h) => h.host)).toEqual(["beta03"]);
        expect((await db.hostObservation.findFirstOrThrow({ where: { hostId: ids.beta01 }, orderBy: { id: "desc" } })).id).toBe(lastOfBeta01.id);
      } finally {
        release();
        await held;
      }
    } finally {
      await db.deployment.deleteMany({ where: { id: { in: [running.id, ended.id] } } });
    }
  });
});
