import "server-only";
import { isValidVersion } from "../apt/version";
import { recordAudit, SYSTEM_ACTOR, type Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import { backgroundRuns, startTimer, type BackgroundRun, type Timer } from "../background";
import type { AppConfig } from "../config-schema";
import { getDb, type Db } from "../db";
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

/** A host another run holds (a deployment installing on it): not probed, its last observation stands. */
export interface BusyHost {
  host: string;
  /** Who holds it, e.g. "deployment 12". */
  holder: string;
}

export interface ProbeRunResult {
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  /** Hosts probed, each with the observation stored for it. */
  hosts: HostProbeResult[];
  /** Hosts skipped because a deployment holds them; no observation is stored for them. */
  busy: BusyHost[];
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
  /** Hosts skipped so far because a deployment holds them. */
  busy: BusyHost[];
}

// A version query answers in milliseconds; the install-sized command timeout would let one stuck
// host hold a refresh for ten minutes.
const PROBE_TIMEOUT_CAP_MS = 60_000;
const OUTPUT_IN_ERROR = 500;

function clip(text: string, max = OUTPUT_IN_ERROR): string {
  const t = text.trim();
  return t.length <= max ? t : `…${t.slice(t.length - max)}`;
}

/** What viewers see of a probe's own failure; the server log has the error itself. */
const UNEXPECTED_ERROR = "unexpected error; the server log has the details";

// `${db:Status-Abbrev} ${Version}` output, for a version command that reports dpkg's state too. The
// abbreviation ends in a space when there is no error flag, and a package that is not installed has
// no version, so "un " is a whole answer: match before trimming, and tolerate a transport that
// stripped the trailing blanks.
const STATUS_ABBREV = /^([uihrp])([ncHUFWti])(?:([ R]) ?(\S*))?[ \t]*$/;

/**
 * Turns the outcome of the version command on one host into an observation. An outcome that is
 * neither a result nor an SshError is a fault of ours: it is logged, and the observation says only
 * that (viewers read it).
 */
export function classifyProbe(outcome: ExecResult | unknown, host?: string): ProbeClassification {
  if (outcome instanceof SshError) {
    const prefix = `${outcome.host}: `;
    const message = outcome.message.startsWith(prefix) ? outcome.message.slice(prefix.length) : outcome.message;
    if (CONNECT_ERROR_KINDS.has(outcome.kind)) return { status: "unreachable", version: null, errorKind: outcome.kind, error: message };
    const tailText = clip(outcome.stderrTail || outcome.stdoutTail);
    return { status: "unknown", version: null, errorKind: outcome.kind, error: tailText ? `${message}; output: ${tailText}` : message };
  }
  if (!isExecResult(outcome)) {
    console.error(`fleet: probe${host ? ` of ${host}` : ""} failed unexpectedly`, outcome);
    return { status: "unknown", version: null, errorKind: "internal", error: UNEXPECTED_ERROR };
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

/** Hosts a running deployment is installing on, with the deployment that holds each. */
async function hostsInRunningDeployments(db: Db, hostIds: number[]): Promise<Map<number, string>> {
  // Found from the running deployments (few, by the status index), not by host id: a fleet of
  // 1,000 ids in one IN list, beside the relation filter, is more bound parameters than SQLite takes.
  const running = await db.deployment.findMany({ where: { status: "running" }, select: { id: true } });
  if (running.length === 0) return new Map();
  const wanted = new Set(hostIds);
  const rows = await db.deploymentTarget.findMany({
    where: { deploymentId: { in: running.map((d) => d.id) }, status: "running" },
    select: { hostId: true, deploymentId: true },
    orderBy: { deploymentId: "asc" },
  });
  return new Map(rows.filter((r) => wanted.has(r.hostId)).map((r) => [r.hostId, `deployment ${r.deploymentId}`]));
}

const isBusy = (e: unknown): e is SshError => e instanceof SshError && e.kind === "busy";

export interface ProbeOptions {
  /** Only these hosts (names from the config). */
  hosts?: string[];
  onProgress?: (progress: { done: number; total: number; busy: readonly BusyHost[] }) => void;
  transport?: FleetTransport;
}

/**
 * Runs the version command on every host (or the named ones) and stores one observation per host,
 * with a `hosts.refresh` audit event, in one transaction. Unreachable hosts are results, not errors.
 * Hosts a deployment holds (a running target of a running deployment, or the transport's host
 * lock) are not probed and get no observation: the probe neither waits out an install nor
 * overwrites what the deployment records. Needs hosts.refresh.
 */
export async function probeHosts(config: AppConfig, actor: Actor, opts: ProbeOptions = {}): Promise<ProbeRunResult> {
  authorize(actor, "hosts.refresh");
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
  const deploying = await hostsInRunningDeployments(db, rows.map((r) => r.id));
  const busy: BusyHost[] = targets.flatMap((h) => {
    const holder = deploying.get(hostId.get(h.name)!);
    return holder ? [{ host: h.name, holder }] : [];
  });

  const command = renderCommand(config.commands.version, { package: config.repository.package });
  const transport = opts.transport ?? getFleetTransport(config.ssh);
  const timeoutMs = Math.min(config.ssh.commandTimeoutSeconds * 1000, PROBE_TIMEOUT_CAP_MS);
  let done = busy.length;
  const report = () => opts.onProgress?.({ done, total: targets.length, busy });
  report();
  const probed = await Promise.all(
    targets
      .filter((h) => !deploying.has(hostId.get(h.name)!))
      .map(async (host): Promise<(HostProbeResult & { observedAt: Date }) | null> => {
        const t0 = Date.now();
        let outcome: ExecResult | unknown;
        try {
          // A probe is also a reachability and host-key check: always a new connection. A host
          // another command holds (an install) fails at once instead of queueing behind it.
          outcome = await transport.exec(host, command, { timeoutMs, fresh: true, ifBusy: "fail", holder: "the version probe" });
        } catch (e) {
          outcome = e;
        }
        done++;
        if (isBusy(outcome)) {
          busy.push({ host: host.name, holder: outcome.holder ?? "another command" });
          report();
          return null;
        }
        const result = {
          host: host.name,
          ...classifyProbe(outcome, host.name),
          durationMs: outcome instanceof SshError ? outcome.durationMs : isExecResult(outcome) ? outcome.durationMs : Date.now() - t0,
          observedAt: new Date(),
        };
        report();
        return result;
      }),
  );
  const results = probed.filter((r) => r !== null);
  busy.sort((a, b) => targets.findIndex((h) => h.name === a.host) - targets.findIndex((h) => h.name === b.host));

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
    if (results.length > 0) {
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
    }
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
      ...(busy.length > 0 ? { busy } : {}),
    });
  });
  return {
    startedAt,
    finishedAt,
    durationMs,
    hosts: results.map(({ observedAt: _observedAt, ...r }) => r),
    busy,
    counts,
    changed,
    inventory,
  };
}

// --- background runs ----------------------------------------------------------------------------

type ProbeRunProgress = Omit<ProbeProgress, "id" | "startedAt" | "finishedAt" | "running">;

// One probe of the fleet at a time in the process.
const FLEET = "fleet";

const probes = backgroundRuns<ProbeRunResult, ProbeRunProgress>("hosts.refresh", {
  async recordJoined(joiners, result) {
    const payload = { hosts: result.hosts.length, ...result.counts, changed: result.changed, durationMs: result.durationMs, joined: true };
    await getDb().$transaction(async (tx) => {
      for (const actor of joiners) await recordAudit(tx, actor, "hosts.refresh", null, payload);
    });
  },
});

function progressOf(run: BackgroundRun<ProbeRunResult, ProbeRunProgress>): ProbeProgress {
  const p = run.progress;
  return {
    id: run.id,
    startedAt: run.startedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    running: run.running,
    total: p.total,
    done: p.done,
    busy: [...p.busy],
    ...(p.error !== undefined ? { error: p.error } : {}),
    ...(p.counts ? { counts: p.counts } : {}),
  };
}

/**
 * Probes every host, or joins the probe already running (a person joining someone else's run gets
 * a `hosts.refresh` event of their own, marked joined, when it ends), and resolves when it has
 * finished. A failed probe (the database, not a host) resolves too, with `error` set. Needs
 * hosts.refresh.
 */
export async function probeFleet(config: AppConfig, actor: Actor): Promise<ProbeProgress> {
  authorize(actor, "hosts.refresh");
  const done = probes.joinOrStart({
    key: FLEET,
    actor,
    progress: () => ({ total: config.hosts.length, done: 0, busy: [] }),
    async work(run) {
      try {
        const result = await probeHosts(config, actor, {
          onProgress: (p) => {
            run.progress.done = p.done;
            run.progress.total = p.total;
            run.progress.busy = [...p.busy];
          },
        });
        run.progress.counts = result.counts;
        run.progress.busy = result.busy;
        return result;
      } catch (e) {
        console.error("fleet: probe failed", e);
        run.progress.error = e instanceof AppError ? e.message : "The probe failed; the server log has the details.";
        throw e;
      }
    },
  });
  // joinOrStart registers or finds the run before returning.
  const run = probes.running(FLEET)!;
  await done.catch(() => undefined);
  return progressOf(run);
}

/** The running probe, or the last one since the server started. */
export function getProbeProgress(): ProbeProgress | null {
  const run = probes.latest(FLEET);
  return run ? progressOf(run) : null;
}

/**
 * Probes every `fleet.refreshSeconds` (read anew from the config each time), first right away.
 * Never overlaps a running probe, never keeps the process alive, logs its errors. Starting again
 * replaces the previous timer.
 */
export function startProbeTimer(getConfig: () => AppConfig | null): Timer {
  return startTimer("hosts.refresh", {
    config: getConfig,
    intervalMs: (config) => config.fleet.refreshSeconds * 1000,
    run: (config) => probeFleet(config, SYSTEM_ACTOR),
  });
}
