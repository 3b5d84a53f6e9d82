import "server-only";
import { randomUUID } from "node:crypto";
import { isValidVersion } from "../apt/version";
import { recordAudit, SYSTEM_ACTOR, type Actor } from "../audit/log";
import type { AppConfig } from "../config-schema";
import { getDb } from "../db";
import { AppError } from "../errors";
import { renderCommand } from "../shell";
import { syncInventory, type InventorySyncResult } from "./inventory";
import { latestObservations } from "./observations";
import type { HostStatus } from "./status";
import { CONNECT_ERROR_KINDS, getFleetTransport, SshError, type ExecResult, type FleetTransport } from "./ssh";

export interface ProbeClassification {
  status: HostStatus;
  version: string | null;
  /** For unreachable: the SSH error kind; for unknown: command-timeout, exit-status, bad-output, package-state, ... */
  errorKind: string | null;
  error: string | null;
}

export interface HostProbeResult extends ProbeClassification {
  host: string;
  durationMs: number;
}

export interface ProbeRunResult {
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  hosts: HostProbeResult[];
  counts: { ok: number; notInstalled: number; unreachable: number; unknown: number };
  /** Hosts whose package state differs from their previous known one (not-installed = null). */
  changed: { host: string; from: string | null; to: string | null }[];
  inventory: InventorySyncResult;
}

export interface ProbeProgress {
  id: string;
  startedAt: Date;
  finishedAt?: Date;
  total: number;
  done: number;
  running: boolean;
  error?: string;
  counts?: ProbeRunResult["counts"];
}

// A version query answers in milliseconds; the install-sized command timeout would let one stuck
// host hold a refresh for ten minutes.
const PROBE_TIMEOUT_CAP_MS = 60_000;
const OUTPUT_IN_ERROR = 500;

function clip(text: string, max = OUTPUT_IN_ERROR): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(t.length - max)}`;
}

// `${db:Status-Abbrev} ${Version}` output, for a version command that reports dpkg's state too. The
// abbreviation ends in a space when there is no error flag, and a package that is not installed has
// no version, so "un " is a whole answer: match before trimming, and tolerate a transport that
// stripped the trailing blanks.
const STATUS_ABBREV = /^([uihrp])([ncHUFWti])(?:([ R]) ?(\S*))?[ \t]*$/;

/** Turns the outcome of the version command on one host into an observation. */
export function classifyProbe(outcome: ExecResult | unknown, host?: string): ProbeClassification {
  if (outcome instanceof SshError) {
    const prefix = `${outcome.host}: `;
    const message = outcome.message.startsWith(prefix) ? outcome.message.slice(prefix.length) : outcome.message;
    if (CONNECT_ERROR_KINDS.has(outcome.kind)) return { status: "unreachable", version: null, errorKind: outcome.kind, error: message };
    const tailText = clip(outcome.stderrTail || outcome.stdoutTail);
    return { status: "unknown", version: null, errorKind: outcome.kind, error: tailText ? `${message}; output: ${tailText}` : message };
  }
  if (!isExecResult(outcome)) {
    const message = outcome instanceof Error ? outcome.message : String(outcome);
    return { status: "unknown", version: null, errorKind: "internal", error: `probe failed${host ? ` on ${host}` : ""}: ${message}` };
  }
  const r = outcome;
  const out = r.stdout.trim();
  if (r.exitCode === 0) {
    const abbrev = STATUS_ABBREV.exec(r.stdout.replace(/(?:\r?\n)+$/, ""));
    if (abbrev) {
      const [, , state, , version] = abbrev;
      if (state === "n" || state === "c") return { status: "not-installed", version: null, errorKind: null, error: null };
      if (state !== "i" || !version || !isValidVersion(version)) {
        return { status: "unknown", version: null, errorKind: "package-state", error: `dpkg reports the package as "${out}" (an interrupted install or removal?)` };
      }
      return { status: "ok", version, errorKind: null, error: null };
    }
    if (isValidVersion(out)) return { status: "ok", version: out, errorKind: null, error: null };
    return {
      status: "unknown",
      version: null,
      errorKind: "bad-output",
      error: out === "" ? "the version command printed nothing" : `the version command printed ${JSON.stringify(clip(out, 200))}, which is not a Debian version`,
    };
  }
  if (r.exitCode === 1 && /no packages found|not installed/i.test(r.stderr)) {
    return { status: "not-installed", version: null, errorKind: null, error: null };
  }
  const how = r.exitCode !== null ? `exit status ${r.exitCode}` : `killed by ${r.signal ?? "a signal"}`;
  const tailText = clip(r.stderr || r.stdout);
  return { status: "unknown", version: null, errorKind: "exit-status", error: `the version command failed (${how})${tailText ? `: ${tailText}` : ""}` };
}

function isExecResult(v: unknown): v is ExecResult {
  return typeof v === "object" && v !== null && "exitCode" in v && "stdout" in v && "stderr" in v;
}

/**
 * Runs the version command on every host (or the named ones) and stores one observation per host,
 * with a `hosts.refresh` audit event, in one transaction. Unreachable hosts are results, not errors.
 */
export async function probeHosts(
  config: AppConfig,
  actor: Actor,
  opts: { hosts?: string[]; onProgress?: (done: number, total: number) => void; transport?: FleetTransport } = {},
): Promise<ProbeRunResult> {
  const startedAt = new Date();
  const inventory = await syncInventory(config);
  let targets = config.hosts;
  if (opts.hosts) {
    const wanted = new Set(opts.hosts);
    const unknown = opts.hosts.filter((h) => !config.hosts.some((c) => c.name === h));
    if (unknown.length > 0) throw new AppError("NOT_FOUND", `No such host in the configuration: ${unknown.join(", ")}`);
    targets = config.hosts.filter((h) => wanted.has(h.name));
  }
  const db = getDb();
  const rows = await db.host.findMany({ where: { name: { in: targets.map((h) => h.name) } }, select: { id: true, name: true } });
  const hostId = new Map(rows.map((r) => [r.name, r.id]));

  const command = renderCommand(config.commands.version, { package: config.repository.package });
  const transport = opts.transport ?? getFleetTransport(config.ssh);
  const timeoutMs = Math.min(config.ssh.commandTimeoutSeconds * 1000, PROBE_TIMEOUT_CAP_MS);
  let done = 0;
  opts.onProgress?.(0, targets.length);
  const results = await Promise.all(
    targets.map(async (host) => {
      const t0 = Date.now();
      let outcome: ExecResult | unknown;
      try {
        // A probe is also a reachability and host-key check: always a new connection.
        outcome = await transport.exec(host, command, { timeoutMs, fresh: true });
      } catch (e) {
        outcome = e;
        if (!(e instanceof SshError)) console.error(`fleet: probe of ${host.name} failed unexpectedly`, e);
      }
      const result: HostProbeResult & { observedAt: Date } = {
        host: host.name,
        ...classifyProbe(outcome, host.name),
        durationMs: outcome instanceof SshError ? outcome.durationMs : isExecResult(outcome) ? outcome.durationMs : Date.now() - t0,
        observedAt: new Date(),
      };
      done++;
      opts.onProgress?.(done, targets.length);
      return result;
    }),
  );

  const finishedAt = new Date();
  const durationMs = finishedAt.getTime() - startedAt.getTime();
  const counts = { ok: 0, notInstalled: 0, unreachable: 0, unknown: 0 };
  for (const r of results) {
    if (r.status === "ok") counts.ok++;
    else if (r.status === "not-installed") counts.notInstalled++;
    else if (r.status === "unreachable") counts.unreachable++;
    else counts.unknown++;
  }
  const changed: ProbeRunResult["changed"] = [];
  await db.$transaction(async (tx) => {
    const ids = [...hostId.values()];
    const [previous, last] = await Promise.all([latestObservations(tx, { hostIds: ids, knownOnly: true }), latestObservations(tx, { hostIds: ids })]);
    for (const r of results) {
      const prev = previous.get(hostId.get(r.host)!);
      // Only a known state compared with a known state: an unreachable host has not changed version.
      if (prev && (r.status === "ok" || r.status === "not-installed") && prev.version !== r.version) {
        changed.push({ host: r.host, from: prev.version, to: r.version });
      }
    }
    await tx.hostObservation.createMany({
      data: results.map((r) => ({
        hostId: hostId.get(r.host)!,
        status: r.status,
        version: r.version,
        errorKind: r.errorKind,
        error: r.error,
        durationMs: r.durationMs,
        observedAt: r.observedAt,
      })),
    });
    // A scheduled probe that saw what the last one saw is not worth an event; people's refreshes always are.
    const sameAsLast = results.every((r) => {
      const before = last.get(hostId.get(r.host)!);
      return before !== undefined && before.status === r.status && before.version === r.version && before.errorKind === r.errorKind;
    });
    if (actor.source !== "system" || changed.length > 0 || !sameAsLast) await recordAudit(tx, actor, "hosts.refresh", opts.hosts ? targets.map((h) => h.name).join(",") : null, {
      hosts: results.length,
      ...counts,
      changed,
      durationMs,
    });
  });
  return {
    startedAt,
    finishedAt,
    durationMs,
    hosts: results.map(({ observedAt: _observedAt, ...r }) => r),
    counts,
    changed,
    inventory,
  };
}

// --- background runs ----------------------------------------------------------------------------

interface ProbeRun {
  progress: ProbeProgress;
  promise: Promise<void>;
  actor: Actor;
  /** People whose request joined this run; each gets an event of their own once it ends. */
  joiners: Actor[];
}

const globalForProbe = globalThis as unknown as {
  scapProbe?: ProbeRun;
  scapProbeTimer?: { stop: () => void };
};

const sameActor = (a: Actor, b: Actor) => a.id === b.id && a.name === b.name && a.source === b.source;

// The run's own event names whoever started it, and a scheduled run that saw nothing new writes
// none: without these, a person's refresh that joined it would leave no trace.
async function recordJoined(joiners: Actor[], result: ProbeRunResult): Promise<void> {
  if (joiners.length === 0) return;
  const payload = { hosts: result.hosts.length, ...result.counts, changed: result.changed, durationMs: result.durationMs, joined: true };
  await getDb().$transaction(async (tx) => {
    for (const actor of joiners) await recordAudit(tx, actor, "hosts.refresh", null, payload);
  });
}

function joinOrStart(config: AppConfig, actor: Actor): { started: boolean; run: ProbeRun } {
  const current = globalForProbe.scapProbe;
  if (current?.progress.running) {
    if (actor.source !== "system" && !sameActor(actor, current.actor)) current.joiners.push(actor);
    return { started: false, run: current };
  }
  const progress: ProbeProgress = { id: randomUUID(), startedAt: new Date(), total: config.hosts.length, done: 0, running: true };
  const joiners: Actor[] = [];
  const promise = probeHosts(config, actor, {
    onProgress: (done, total) => {
      progress.done = done;
      progress.total = total;
    },
  }).then(
    async (result) => {
      progress.counts = result.counts;
      progress.running = false;
      progress.finishedAt = new Date();
      // No one can join any more (running is false), so the list is complete.
      await recordJoined(joiners, result).catch((e: unknown) => console.error("fleet: recording the requests that joined a probe failed", e));
    },
    (e: unknown) => {
      console.error("fleet: probe failed", e);
      progress.error = e instanceof AppError ? e.message : "The probe failed; the server log has the details.";
      progress.running = false;
      progress.finishedAt = new Date();
    },
  );
  const run: ProbeRun = { progress, promise, actor, joiners };
  globalForProbe.scapProbe = run;
  return { started: true, run };
}

/**
 * Starts a probe of every host in the background and returns at once; while one runs, a second
 * call joins it instead (a person joining someone else's run gets a `hosts.refresh` event of their
 * own, marked joined, when it ends).
 */
export function startProbe(config: AppConfig, actor: Actor): { started: boolean; run: ProbeProgress } {
  const { started, run } = joinOrStart(config, actor);
  return { started, run: { ...run.progress } };
}

/** Starts a probe (or joins the running one) and resolves when it has finished. */
export async function probeFleet(config: AppConfig, actor: Actor): Promise<ProbeProgress> {
  const { run } = joinOrStart(config, actor);
  await run.promise;
  return { ...run.progress };
}

/** The running probe, or the last one since the server started. */
export function getProbeProgress(): ProbeProgress | null {
  const current = globalForProbe.scapProbe;
  return current ? { ...current.progress } : null;
}

/**
 * Probes every `fleet.refreshSeconds` (read anew from the config each time), first right away.
 * Never overlaps a running probe, never keeps the process alive, logs its errors. Starting again
 * replaces the previous timer. Returns a stop function.
 */
export function startProbeTimer(getConfig: () => AppConfig | null): () => void {
  globalForProbe.scapProbeTimer?.stop();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), ms);
    timer.unref();
  };
  const tick = async () => {
    let seconds = 300;
    try {
      const config = getConfig();
      if (config) {
        seconds = config.fleet.refreshSeconds;
        await probeFleet(config, SYSTEM_ACTOR);
      }
    } catch (e) {
      console.error("fleet: scheduled probe failed", e);
    } finally {
      schedule(seconds * 1000);
    }
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    if (globalForProbe.scapProbeTimer?.stop === stop) globalForProbe.scapProbeTimer = undefined;
  };
  globalForProbe.scapProbeTimer = { stop };
  schedule(0);
  return stop;
}
