import "server-only";
import { recordAudit, SYSTEM_ACTOR, type Actor, type AuditPayload } from "../audit/log";
import { authorize } from "../auth/authorize";
import { backgroundRuns, startTimer, type Timer } from "../background";
import type { RepositoryConfig } from "../config-schema";
import { getDb, type Tx } from "../db";
import { RepositoryError } from "./errors";
import type { RepositoryBuild } from "./packages";
import { repositorySourceKey } from "./source";
import { readRepository, type PreviousRead, type ReadOptions, type RepositoryRead } from "./repository";

export type RefreshOutcome =
  | {
      ok: true;
      status: "changed" | "unchanged";
      /** Versions that entered the index (new, or back after having left it). */
      added: string[];
      /** Versions that left the index; their rows are kept with inIndex false. */
      removed: string[];
      /** Versions listed again with another SHA256 or size: the same version rebuilt and published again. */
      rebuilt: string[];
      /** Builds in the index now. */
      buildCount: number;
      signerKey: string | null;
      warnings: string[];
      durationMs: number;
    }
  | {
      ok: false;
      /** A RepositoryError kind, or "internal" for a fault of our own. */
      errorKind: string;
      error: string;
      durationMs: number;
    };

/** What viewers see of a failure that is not a RepositoryError; the server log has the error itself. */
const UNEXPECTED_ERROR = "unexpected error; the server log has the details";

// Stored in columns of their own, or of no use once the hash is checked.
const OMITTED_FIELDS = new Set(["package", "version", "architecture", "filename", "size", "sha256", "md5sum", "sha1", "sha512", "description-md5"]);

function storedFields(b: RepositoryBuild): string {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(b.fields)) if (!OMITTED_FIELDS.has(name.toLowerCase())) out[name] = value;
  return JSON.stringify(out);
}

const unique = (xs: string[]) => [...new Set(xs)];

interface AppliedRead {
  added: string[];
  removed: string[];
  rebuilt: string[];
  buildCount: number;
}

async function applyRead(tx: Tx, config: RepositoryConfig, read: RepositoryRead, at: Date): Promise<AppliedRead> {
  const ours = { package: config.package, architecture: { in: [config.architecture, "all"] } };
  const added: string[] = [];
  const removed: string[] = [];
  const rebuilt: string[] = [];
  if (read.status === "changed") {
    const existing = await tx.build.findMany({ where: ours, select: { id: true, version: true, architecture: true, inIndex: true, sha256: true, size: true } });
    const byKey = new Map(existing.map((e) => [`${e.version} ${e.architecture}`, e]));
    const listed = new Set<string>();
    for (const b of read.builds) {
      const key = `${b.version} ${b.architecture}`;
      listed.add(key);
      const data = { filename: b.filename, sha256: b.sha256, size: b.size, fields: storedFields(b), lastSeenAt: at, inIndex: true };
      const prev = byKey.get(key);
      if (prev) {
        await tx.build.update({ where: { id: prev.id }, data });
        if (!prev.inIndex) added.push(b.version);
        // Hosts that installed the old file run different bytes under the same version string.
        if (prev.sha256 !== b.sha256 || prev.size !== b.size) rebuilt.push(b.version);
      } else {
        await tx.build.create({ data: { ...data, package: b.package, version: b.version, architecture: b.architecture, firstSeenAt: at } });
        added.push(b.version);
      }
    }
    const gone = existing.filter((e) => e.inIndex && !listed.has(`${e.version} ${e.architecture}`));
    if (gone.length > 0) {
      // Never deleted: a build that left the index can still be what a host runs or a rollback target.
      await tx.build.updateMany({ where: { id: { in: gone.map((e) => e.id) } }, data: { inIndex: false } });
      removed.push(...gone.map((e) => e.version));
    }
  } else {
    await tx.build.updateMany({ where: { ...ours, inIndex: true }, data: { lastSeenAt: at } });
  }
  const buildCount = await tx.build.count({ where: { ...ours, inIndex: true } });
  return { added: unique(added), removed: unique(removed), rebuilt: unique(rebuilt), buildCount };
}

export interface RefreshOptions extends ReadOptions {
  /** Download the Release and the index even when they have not changed since the last read. */
  force?: boolean;
}

async function refreshOnce(config: RepositoryConfig, actor: Actor, options: RefreshOptions): Promise<RefreshOutcome> {
  const db = getDb();
  const source = repositorySourceKey(config);
  const startedAt = new Date();
  const state = await db.repositoryState.findUnique({ where: { source } });
  // Only what a successful read stored; the Release date is kept even when forced, against replays.
  const previous: PreviousRead = state?.lastSuccessAt
    ? {
        etag: options.force ? null : state.etag,
        lastModified: options.force ? null : state.lastModified,
        indexSha256: options.force ? null : state.indexSha256,
        signerKey: state.signerKey,
        releaseDate: state.releaseDate,
        validUntil: state.validUntil,
      }
    : {};

  let read: RepositoryRead;
  try {
    read = await readRepository(config, previous, options);
  } catch (e) {
    const known = e instanceof RepositoryError;
    // Viewers read lastError and the audit log: only a RepositoryError's message is meant for them.
    if (!known) console.error(`builds: reading ${source} failed unexpectedly`, e);
    const errorKind = known ? e.kind : "internal";
    const error = known ? e.message : UNEXPECTED_ERROR;
    const at = new Date();
    const durationMs = at.getTime() - startedAt.getTime();
    await db.$transaction(async (tx) => {
      const failure = { lastAttemptAt: startedAt, lastErrorKind: errorKind, lastError: error, lastErrorAt: at, lastDurationMs: durationMs };
      await tx.repositoryState.upsert({ where: { source }, create: { source, ...failure }, update: failure });
      // The timer repeats a failure every few minutes; its log records the first and each new kind.
      const repeated = actor.source === "system" && state?.lastErrorKind === errorKind && (state.lastErrorAt ?? 0) > (state.lastSuccessAt ?? 0);
      if (!repeated) await recordAudit(tx, actor, "builds.refresh", source, { ok: false, errorKind, error });
    });
    return { ok: false, errorKind, error, durationMs };
  }

  if (read.warnings.length > 0) console.warn(`builds: ${source}: ${read.warnings.length} stanza(s) skipped:\n  ${read.warnings.join("\n  ")}`);
  const at = new Date();
  const durationMs = at.getTime() - startedAt.getTime();
  const result = await db.$transaction(async (tx) => {
    const applied = await applyRead(tx, config, read, at);
    const success = {
      lastAttemptAt: startedAt,
      lastSuccessAt: at,
      signerKey: read.signerKey,
      releaseDate: read.releaseDate,
      validUntil: read.validUntil,
      etag: read.etag,
      lastModified: read.lastModified,
      indexSha256: read.indexSha256,
      buildCount: applied.buildCount,
      lastDurationMs: durationMs,
      lastErrorKind: null,
      lastError: null,
      lastErrorAt: null,
    };
    await tx.repositoryState.upsert({ where: { source }, create: { source, ...success }, update: success });
    // A scheduled read that changed nothing and recovered from nothing is not worth an event.
    const quiet = actor.source === "system" && applied.added.length === 0 && applied.removed.length === 0 && applied.rebuilt.length === 0 && !state?.lastErrorKind;
    const outcome: RefreshOutcome = { ok: true, status: read.status, ...applied, signerKey: read.signerKey, warnings: read.warnings, durationMs };
    if (!quiet) await recordAudit(tx, actor, "builds.refresh", source, auditPayload(outcome));
    return outcome;
  });
  if (result.ok && result.rebuilt.length > 0) {
    console.warn(`builds: ${source}: ${result.rebuilt.join(", ")} listed again with another SHA256 or size (rebuilt under the same version)`);
  }
  return result;
}

function auditPayload(outcome: RefreshOutcome): AuditPayload<"builds.refresh"> {
  if (!outcome.ok) return { ok: false, errorKind: outcome.errorKind, error: outcome.error };
  return {
    ok: true,
    changed: outcome.status === "changed",
    added: outcome.added,
    removed: outcome.removed,
    ...(outcome.rebuilt.length > 0 ? { rebuilt: outcome.rebuilt } : {}),
  };
}

interface RefreshProgress {
  /** The read downloads everything again. */
  forced: boolean;
}

const refreshes = backgroundRuns<RefreshOutcome, RefreshProgress>("builds.refresh", {
  async recordJoined(joiners, outcome, run) {
    await getDb().$transaction(async (tx) => {
      for (const actor of joiners) await recordAudit(tx, actor, "builds.refresh", run.key, { ...auditPayload(outcome), joined: true });
    });
  },
});

/**
 * Reads the repository and stores what it lists: Build rows upserted (never deleted), the
 * RepositoryState row and one `builds.refresh` audit event, all in one transaction. A failed read
 * changes no build; it records the error on RepositoryState and in the audit log.
 *
 * A call while a refresh of the same source runs waits for that one and returns its outcome; a
 * person joining someone else's run gets an event of their own (joined: true), since the run's
 * event names its starter and a scheduled run may write none. A forced call never settles for an
 * unforced run: it waits for it, then reads everything again.
 * Repository problems are outcomes (ok: false); only database failures throw, and FORBIDDEN for
 * an actor without builds.refresh.
 */
export function refreshBuilds(config: RepositoryConfig, actor: Actor, options: RefreshOptions = {}): Promise<RefreshOutcome> {
  try {
    authorize(actor, "builds.refresh");
  } catch (e) {
    return Promise.reject(e);
  }
  const forced = options.force === true;
  return refreshes.joinOrStart({
    key: repositorySourceKey(config),
    actor,
    progress: () => ({ forced }),
    work: () => refreshOnce(config, actor, options),
    accepts: (run) => !forced || run.progress.forced,
  });
}

/**
 * Refreshes every repository.refreshSeconds (re-read from getConfig each time, so a config reload
 * applies), starting now. Runs never overlap; the timer does not keep the process alive; failures
 * are logged, never thrown. Starting again replaces the previous timer.
 */
export function startBuildRefreshTimer(getConfig: () => RepositoryConfig | null | undefined, options: { actor?: Actor; initialDelayMs?: number } = {}): Timer {
  return startTimer("builds.refresh", {
    config: getConfig,
    intervalMs: (config) => config.refreshSeconds * 1000,
    initialDelayMs: options.initialDelayMs,
    async run(config) {
      const outcome = await refreshBuilds(config, options.actor ?? SYSTEM_ACTOR);
      if (!outcome.ok) console.warn(`builds: scheduled refresh of ${repositorySourceKey(config)} failed (${outcome.errorKind}): ${outcome.error}`);
    },
  });
}
