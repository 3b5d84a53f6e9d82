import "server-only";
import pLimit from "p-limit";
import { recordAudit, SYSTEM_ACTOR } from "../audit/log";
import type { AppConfig, HostConfig } from "../config-schema";
import { getDb } from "../db";
import { classifyProbe } from "../fleet/probe";
import { CONNECT_ERROR_KINDS, createFleetTransport, SshError, type ExecResult, type FleetTransport } from "../fleet/ssh";
import { notifyDeployment } from "../notify/webhooks";
import { renderCommand } from "../shell";
import { recordBakeStart } from "./bake";
import { LEASE_MS, leaseFromNow, RENEW_MS, runnerId } from "./lease";
import { KILL_AFTER_S, withRemoteTimeout } from "./remote";

// The deployment runner: batches in order, hosts of a batch at once (at most ssh.concurrency), per
// host install → version read-back → health check under one held SSH session. Every state change
// is written to the database as it happens, so any process can show it and nothing is lost if this
// one dies; cancel requests are read from the database too.

export type DeploymentStatus = "queued" | "running" | "succeeded" | "failed" | "partial" | "cancelled" | "interrupted";
export type TargetStatus = "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled" | "interrupted";

export const ACTIVE_STATUSES: readonly DeploymentStatus[] = ["queued", "running"];

/** Kept of each host's output in the record (the tail). */
const MAX_OUTPUT_CHARS = 64 * 1024;
/** Live output reaches the database at most this often per host. */
const OUTPUT_FLUSH_MS = 750;
const CANCEL_POLL_MS = 500;
/** Grace after the remote `timeout` before the transport gives up on the session itself. */
const TRANSPORT_GRACE_S = 20;
const VERIFY_TIMEOUT_MS = 60_000;

interface Runner {
  done: Promise<DeploymentStatus | null>;
  /** Wakes the runner at once after a cancel request (the database stays the truth). */
  poke(): void;
}

const runners = ((globalThis as unknown as { scapRunners?: Map<number, Runner> }).scapRunners ??= new Map<number, Runner>());

/** Starts running a created deployment in this process, in the background. */
export function launchDeployment(config: AppConfig, id: number, opts: { transport?: FleetTransport } = {}): Promise<DeploymentStatus | null> {
  const existing = runners.get(id);
  if (existing) return existing.done;
  let poke = () => {};
  const wake = new Promise<void>((resolve) => (poke = resolve));
  const done = runDeployment(config, id, { ...opts, wake }).catch((e: unknown) => {
    console.error(`deploy: the runner of deployment ${id} failed`, e);
    return null;
  });
  const runner: Runner = { done, poke: () => poke() };
  runners.set(id, runner);
  void done.finally(() => runners.delete(id));
  return done;
}

/** Tells this process's runner of a deployment, if it has one, to look at the database now. */
export function pokeRunner(id: number): void {
  runners.get(id)?.poke();
}

/** Resolves when this process's runner of the deployment has ended (at once when there is none). */
export async function waitForRunner(id: number): Promise<void> {
  await runners.get(id)?.done;
}

interface TargetRow {
  id: number;
  batch: number;
  status: string;
  fromVersion: string | null;
  host: { id: number; name: string };
}

interface TargetResult {
  status: "succeeded" | "failed" | "cancelled";
  exitCode: number | null;
  errorKind: string | null;
  error: string | null;
  reportedVersion: string | null;
}

/** A write that found the deployment no longer held by this runner (recovery took it over). */
class LeaseLost extends Error {}

// The runner's own transactions wait for SQLite's writer rather than failing at Prisma's 2 s default.
const TX = { maxWait: 15_000, timeout: 30_000 } as const;

/**
 * Runs a queued deployment to its end and returns its final status, or null when another runner
 * has it or took it over. Claiming it and every later write are conditional on this runner still
 * holding it; once a write finds otherwise, no new host starts, running commands are stopped and
 * nothing more is written.
 */
export async function runDeployment(config: AppConfig, id: number, opts: { transport?: FleetTransport; wake?: Promise<void> } = {}): Promise<DeploymentStatus | null> {
  const db = getDb();
  const me = runnerId();
  const startedAt = new Date();
  const claimed = await db.deployment.updateMany({
    where: { id, status: "queued", OR: [{ runnerId: null }, { runnerId: me }] },
    data: { status: "running", startedAt, runnerId: me, leaseUntil: leaseFromNow() },
  });
  if (claimed.count === 0) return null;
  void notifyDeployment(config, id, "deployment.start");

  const deployment = await db.deployment.findUniqueOrThrow({
    where: { id },
    include: { channel: { select: { name: true } }, targets: { include: { host: { select: { id: true, name: true } } }, orderBy: [{ batch: "asc" }, { id: "asc" }] } },
  });
  // A transport of its own: a config reload replaces the shared one, and must not end this run.
  const transport = opts.transport ?? createFleetTransport(config.ssh);
  const pkg = config.repository.package;
  const version = deployment.version;
  const holder = `deployment ${id}`;
  const held = { runnerId: me, status: "running" };

  let cancelled = deployment.cancelRequestedAt !== null;
  let leaseLost = false;
  /** A write of progress failed: no new host starts (recovery ends the deployment if this runner cannot). */
  let broken = false;
  let failures = 0;
  const stopReason = (): "cancelled" | "lease" | "error" | "threshold" | null =>
    leaseLost ? "lease" : broken ? "error" : cancelled ? "cancelled" : failures > deployment.maxFailures ? "threshold" : null;

  const lease = new AbortController();
  const loseLease = () => {
    if (leaseLost) return;
    leaseLost = true;
    console.error(`deploy: deployment ${id} is no longer held by this runner; stopping its hosts`);
    lease.abort();
  };
  /** Hosts waiting for their session: a cancel stops the wait (a host already installing finishes). */
  const waiting = new Set<AbortController>();

  let lastRenewal = Date.now();
  const renew = setInterval(() => {
    void db.deployment
      .updateMany({ where: { id, ...held }, data: { leaseUntil: leaseFromNow() } })
      .then((r) => {
        if (r.count === 0) loseLease();
        else lastRenewal = Date.now();
      })
      .catch((e: unknown) => {
        console.error(`deploy: renewing the lease of deployment ${id} failed`, e);
        if (Date.now() - lastRenewal > LEASE_MS) loseLease();
      });
  }, RENEW_MS);
  let polling = true;
  const pollCancel = async () => {
    while (polling && !cancelled) {
      await Promise.race([sleep(CANCEL_POLL_MS), opts.wake ?? new Promise(() => {})]);
      if (!polling) break;
      try {
        const row = await db.deployment.findUnique({ where: { id }, select: { cancelRequestedAt: true } });
        if (row?.cancelRequestedAt) {
          cancelled = true;
          for (const w of waiting) w.abort();
        }
      } catch (e) {
        console.error(`deploy: reading the cancel state of deployment ${id} failed`, e);
      }
    }
  };
  const poller = pollCancel();

  /** Writes a target's row only while this runner holds the deployment. */
  const writeTarget = async (tx: Pick<typeof db, "deploymentTarget">, targetId: number, data: Parameters<typeof db.deploymentTarget.updateMany>[0]["data"]) => {
    const r = await tx.deploymentTarget.updateMany({ where: { id: targetId, deployment: { is: { id, ...held } } }, data });
    if (r.count === 0) throw new LeaseLost();
  };

  const limit = pLimit(config.ssh.concurrency);
  const byBatch = new Map<number, TargetRow[]>();
  for (const t of deployment.targets) if (t.status === "pending") byBatch.set(t.batch, [...(byBatch.get(t.batch) ?? []), t]);

  try {
    for (const batch of [...byBatch.keys()].sort((a, b) => a - b)) {
      if (stopReason()) break;
      const outcomes = await Promise.allSettled(
        byBatch.get(batch)!.map((t) =>
          limit(async () => {
            // No new host starts once the run must stop; running ones finish.
            if (stopReason()) return;
            const result = await runTarget(t);
            if (result.status === "failed") failures++;
          }),
        ),
      );
      for (const o of outcomes) {
        if (o.status === "fulfilled") continue;
        if (o.reason instanceof LeaseLost) loseLease();
        else {
          broken = true;
          console.error(`deploy: recording progress of deployment ${id} failed; no new host starts`, o.reason);
        }
      }
    }
  } finally {
    clearInterval(renew);
    polling = false;
    await poller;
    if (!opts.transport) void transport.close();
  }

  async function runTarget(t: TargetRow): Promise<TargetResult> {
    const hostConfig = config.hosts.find((h) => h.name === t.host.name);
    await writeTarget(db, t.id, { status: "running", startedAt: new Date() });
    const out = new OutputLog((text) => writeTarget(db, t.id, { output: text }).catch((e: unknown) => (e instanceof LeaseLost ? loseLease() : Promise.reject(e))));
    let result: TargetResult;
    if (!hostConfig) {
      result = failed("config", `${t.host.name} is no longer in the configuration`);
    } else {
      const wait = new AbortController();
      waiting.add(wait);
      const signal = AbortSignal.any([lease.signal, wait.signal]);
      result = await installOn(hostConfig, t, out, signal, () => waiting.delete(wait)).catch((e: unknown) => fromError(e, cancelled));
      waiting.delete(wait);
    }
    const output = await out.close();
    await db.$transaction(async (tx) => {
      await writeTarget(tx, t.id, {
        status: result.status,
        exitCode: result.exitCode,
        errorKind: result.errorKind,
        error: result.error,
        reportedVersion: result.reportedVersion,
        output,
        finishedAt: new Date(),
      });
      // What the host reported is an observation like a probe's: the hosts page shows it at once.
      if (result.reportedVersion !== null || result.errorKind === "verify") {
        await tx.hostObservation.create({
          data: { hostId: t.host.id, status: result.reportedVersion !== null ? "ok" : "unknown", version: result.reportedVersion, errorKind: result.reportedVersion !== null ? null : "package-state", error: result.reportedVersion !== null ? null : result.error },
        });
      }
    }, TX);
    return result;
  }

  async function installOn(host: HostConfig, t: TargetRow, out: OutputLog, signal: AbortSignal, entered: () => void): Promise<TargetResult> {
    const versionCommand = renderCommand(config.commands.version, { package: pkg });
    const installCommand = renderCommand(config.commands.install, { package: pkg, version });
    const healthCommand = config.commands.healthCheck ? renderCommand(config.commands.healthCheck, { package: pkg, version }) : null;
    const seconds = Math.max(1, Math.round(config.ssh.commandTimeoutSeconds));
    const onOutput = (chunk: string) => out.append(chunk);
    const bounded = { timeoutMs: (seconds + KILL_AFTER_S + TRANSPORT_GRACE_S) * 1000, onOutput };

    return transport.withHost(
      host,
      async (session) => {
        // Inside the session: from here a cancel lets this host finish.
        entered();
        const readBack = async (): Promise<{ version: string | null; text: string }> => {
          const r = await session.exec(versionCommand, { timeoutMs: VERIFY_TIMEOUT_MS });
          const c = classifyProbe(r, host.name);
          if (c.status === "ok") return { version: c.version, text: c.version! };
          if (c.status === "not-installed") return { version: null, text: "not installed" };
          return { version: null, text: c.error ?? "no answer" };
        };
        const healthCheck = async (): Promise<TargetResult> => {
          if (healthCommand) {
            out.append(`\n$ health check\n`);
            const health = await session.exec(withRemoteTimeout(healthCommand, seconds), bounded);
            if (health.exitCode !== 0) {
              return { ...failed("health", `${version} is installed but the health check failed (${exitText(health)})${lastLine(health)}`), exitCode: health.exitCode, reportedVersion: version };
            }
          }
          return { status: "succeeded", exitCode: 0, errorKind: null, error: null, reportedVersion: version };
        };

        if (t.fromVersion === version) {
          const now = await readBack();
          if (now.version === version) {
            // Not reinstalled, but checked like any other host.
            out.append(`${host.name} already runs ${version}; nothing to install.\n`);
            return healthCheck();
          }
        }
        if (cancelled) return { status: "cancelled", exitCode: null, errorKind: "cancelled", error: "cancelled before the install started", reportedVersion: null };

        const install = await session.exec(withRemoteTimeout(installCommand, seconds), bounded);
        if (install.exitCode !== 0) {
          if (install.exitCode === 124 || install.exitCode === 137) {
            return { ...failed("timeout", `the install command ran longer than ${seconds}s and was stopped on the host`), exitCode: install.exitCode };
          }
          const after = await readBack().catch(() => null);
          return { ...failed("install", `the install command failed (${exitText(install)})${lastLine(install)}`), exitCode: install.exitCode, reportedVersion: after?.version ?? null };
        }
        const now = await readBack();
        if (now.version !== version) {
          return { ...failed("verify", `installed ${version} but the host reports ${now.text}`), exitCode: 0, reportedVersion: now.version };
        }
        return healthCheck();
      },
      { holder, signal },
    );
  }

  // ---- the end ----
  if (leaseLost) return null;
  let final: DeploymentStatus | null;
  try {
    final = await db.$transaction(async (tx) => {
      const rows = await tx.deploymentTarget.findMany({ where: { deploymentId: id }, include: { host: { select: { name: true } } } });
      const leftStatus: TargetStatus = cancelled ? "cancelled" : "skipped";
      const left = rows.filter((r) => r.status === "pending" || r.status === "running");
      for (const r of left) r.status = leftStatus;
      const count = (s: string) => rows.filter((r) => r.status === s).length;
      // A host counts as changed when it reports the version now (a failed health check included).
      const changed = rows.filter((r) => (r.status === "succeeded" || r.reportedVersion === version) && r.fromVersion !== version).length;
      // failed: no host changed version; partial: some did, so the channel is split.
      const status: DeploymentStatus = cancelled && count("cancelled") > 0 ? "cancelled" : count("succeeded") === rows.length ? "succeeded" : changed > 0 ? "partial" : "failed";
      const finishedAt = new Date();
      const notStarted = count("skipped");
      const error =
        status === "succeeded"
          ? null
          : status === "cancelled"
            ? `cancelled by ${deployment.cancelledBy ?? (await tx.deployment.findUnique({ where: { id }, select: { cancelledBy: true } }))?.cancelledBy ?? "someone"}`
            : `${count("failed")} host(s) failed${notStarted > 0 ? `, ${notStarted} not started` : ""}`;
      // First the deployment, conditionally: if this runner no longer holds it, nothing here is kept.
      const updated = await tx.deployment.updateMany({ where: { id, ...held }, data: { status, finishedAt, error, runnerId: null, leaseUntil: null } });
      if (updated.count === 0) throw new LeaseLost();
      if (left.length > 0) {
        await tx.deploymentTarget.updateMany({
          where: { id: { in: left.map((r) => r.id) } },
          data: {
            status: leftStatus,
            error: cancelled ? "cancelled before it started" : broken ? "not started: the runner could not record progress" : `not started: more than ${deployment.maxFailures} host(s) failed`,
            finishedAt,
          },
        });
      }
      await tx.hostLock.deleteMany({ where: { deploymentId: id } });
      if (status === "succeeded") await recordBakeStart(tx, config.channels.find((c) => c.name === deployment.channel.name), { id, channelId: deployment.channelId, kind: deployment.kind, version });
      // The runner ends it, not the person who started it (their event is deployment.start).
      await recordAudit(tx, SYSTEM_ACTOR, "deployment.finish", deployment.channel.name, {
        deploymentId: id,
        channel: deployment.channel.name,
        version,
        status,
        succeeded: count("succeeded"),
        failed: count("failed"),
        skipped: notStarted,
        cancelled: count("cancelled"),
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        notOnVersion: rows.filter((r) => r.status !== "succeeded").map((r) => ({ host: r.host.name, status: r.status, version: r.reportedVersion ?? r.fromVersion })),
      });
      return status;
    }, TX);
  } catch (e) {
    if (e instanceof LeaseLost) return null;
    throw e;
  }
  void notifyDeployment(config, id, "deployment.finish");
  return final;
}

/** This process runs that deployment now (recovery leaves it alone, whatever its lease says). */
export function isRunningHere(id: number): boolean {
  return runners.has(id);
}

function failed(kind: string, message: string): TargetResult {
  return { status: "failed", exitCode: null, errorKind: kind, error: message, reportedVersion: null };
}

function fromError(e: unknown, cancelRequested: boolean): TargetResult {
  if (e instanceof SshError) {
    const prefix = `${e.host}: `;
    const message = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    // Only a person's cancel makes a host "cancelled"; anything else that stopped it is a failure.
    if (e.kind === "cancelled" && cancelRequested) return { status: "cancelled", exitCode: null, errorKind: "cancelled", error: message, reportedVersion: null };
    const kind = CONNECT_ERROR_KINDS.has(e.kind) ? "unreachable" : e.kind === "command-timeout" ? "timeout" : e.kind;
    return { ...failed(kind, message), exitCode: e.exitCode };
  }
  console.error("deploy: a host's install failed unexpectedly", e);
  return failed("internal", "unexpected error; the server log has the details");
}

function exitText(r: ExecResult): string {
  return r.exitCode !== null ? `exit status ${r.exitCode}` : `killed by ${r.signal ?? "a signal"}`;
}

/** The line that says what went wrong: apt's first `E:` line (the cause; later ones sum up), else the last line of stderr. */
function lastLine(r: ExecResult): string {
  const lines = `${r.stderr}\n${r.stdout}`.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^E: /.test(l)) ?? r.stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).at(-1);
  return line ? `: ${line.length > 300 ? `${line.slice(0, 300)}…` : line}` : "";
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A host's combined output: the tail kept, written to the database now and then while it grows. */
class OutputLog {
  private text = "";
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  constructor(private readonly write: (text: string) => Promise<void>) {}

  append(chunk: string) {
    this.text += chunk;
    if (this.text.length > MAX_OUTPUT_CHARS) this.text = this.text.slice(this.text.length - MAX_OUTPUT_CHARS);
    this.dirty = true;
    this.timer ??= setTimeout(() => this.flush(), OUTPUT_FLUSH_MS);
  }

  private flush() {
    this.timer = null;
    if (!this.dirty) return;
    this.dirty = false;
    const text = this.text;
    this.writing = this.writing.then(() => this.write(text)).catch((e: unknown) => console.error("deploy: writing live output failed", e));
  }

  /** Stops the live writes and returns the final text (the caller stores it with the result). */
  async close(): Promise<string> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.dirty = false;
    await this.writing;
    return this.text;
  }
}
