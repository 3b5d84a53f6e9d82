import "server-only";
import { checkBuildDownload } from "../apt/deb";
import { RepositoryError } from "../apt/errors";
import { findBuild, type BuildRow } from "../apt/queries";
import { compareLink } from "../apt/compare";
import { compareVersions } from "../apt/version";
import { resolveCount, type AppConfig } from "../config-schema";
import { getDb, type Db, type Tx } from "../db";
import { AppError } from "../errors";
import { isKnownState, readFleetSnapshot, type ChannelState, type FleetSnapshot } from "./channels";
import { provenVersions } from "./eligibility";
import { activeFreeze, freezeMessage } from "./freeze";
import type { DeploymentKind, DeploymentPlan, PlanHost, PlanRefusal } from "./plan-types";

export type { DeploymentKind, DeploymentPlan, PlanHost, PlanRefusal };

// What a deployment will do, computed one way for the confirmation dialog, the API and the runner:
// what a person confirms is what runs.

// Knowledge of a host older than this is flagged in the plan.
const STALE_AFTER_MS = 60 * 60 * 1000;

export interface PlanOptions {
  kind?: DeploymentKind;
  /** Only these hosts of the channel (a retry). */
  hosts?: string[];
  /** Download the .deb and check it against the index (default true). */
  checkDownload?: boolean;
  /** Accept a check of the same file made in the last few minutes (the dialog; a start always checks anew). */
  cachedDownload?: boolean;
  db?: Db | Tx;
}

/**
 * The plan for putting `version` on `channel`. Reads the database and, unless told not to, the
 * repository (the .deb is fetched and checked, never kept); opens no SSH connection. Throws
 * NOT_FOUND for an unknown channel or build; everything else that stands in the way is a refusal.
 */
export async function planDeployment(config: AppConfig, channelName: string, version: string, opts: PlanOptions = {}): Promise<DeploymentPlan> {
  const db = opts.db ?? getDb();
  const kind = opts.kind ?? "promote";
  const channelConfig = config.channels.find((c) => c.name === channelName);
  const snapshot = await readFleetSnapshot(db);
  const channel = snapshot.channels.find((c) => c.name === channelName);
  if (!channelConfig || !channel) throw new AppError("NOT_FOUND", `No channel named ${channelName} is configured.`);
  const build = await findBuild(config.repository, version, db);
  if (!build) throw new AppError("NOT_FOUND", `${version} is not a known build of ${config.repository.package} (${config.repository.architecture}); refresh the builds if it was just published.`);

  const refusals: PlanRefusal[] = [];
  const warnings: string[] = [];
  let members = snapshot.hosts.filter((h) => channel.hosts.includes(h.name));
  if (opts.hosts) {
    const wanted = new Set(opts.hosts);
    members = members.filter((h) => wanted.has(h.name));
  }
  if (members.length === 0) refusals.push({ code: "no-hosts", message: `Channel ${channelName} has no hosts to deploy to.` });

  const now = Date.now();
  const describe = (h: FleetSnapshot["hosts"][number]): Omit<PlanHost, "batch"> => ({
    host: h.name,
    from: h.observation?.version ?? null,
    status: h.observation?.status ?? "unknown",
    observedAt: h.observation?.observedAt.toISOString() ?? null,
    error: h.observation?.error ?? null,
  });
  const already = members.filter((h) => h.observation?.status === "ok" && h.observation.version === version);
  const unknown = members.filter((h) => !isKnownState(h.observation));
  const change = members.filter((h) => isKnownState(h.observation) && !already.includes(h));
  // Hosts whose version changes go first, so a failure shows before the rest is touched.
  const ordered = [...change, ...unknown, ...already];
  const batchSize = resolveCount(channelConfig.batchSize, ordered.length, 1);
  const maxFailures = resolveCount(channelConfig.maxFailures, ordered.length, 0);
  const batchOf = new Map(ordered.map((h, i) => [h.name, Math.floor(i / batchSize)]));
  const batches: string[][] = [];
  for (const h of ordered) (batches[batchOf.get(h.name)!] ??= []).push(h.name);
  const withBatch = (h: FleetSnapshot["hosts"][number]): PlanHost => ({ ...describe(h), batch: batchOf.get(h.name)! });

  if (!build.inIndex) refusals.push({ code: "not-in-index", message: `${version} has left the repository index; apt on the hosts cannot install it.` });

  const gate = await evaluateGate(db, config, channel, version, kind);
  if (!gate.ok) refusals.push({ code: "gate", message: gate.message! });
  const freeze = activeFreeze(await db.channel.findUniqueOrThrow({ where: { id: channel.id }, select: { frozenAt: true, frozenBy: true, freezeReason: true, frozenUntil: true } }));
  if (freeze) refusals.push({ code: "frozen", message: freezeMessage(channelName, freeze) });

  const busy = await busyHosts(db, members.map((h) => h.id));
  for (const b of busy) {
    refusals.push({ code: "busy", message: `Deployment ${b.deploymentId} is running on ${b.hosts.join(", ")}; wait for it to end or cancel it.` });
  }

  let download: DeploymentPlan["download"] = null;
  if (opts.checkDownload !== false && build.inIndex) {
    download = await checkDownload(config, build, opts.cachedDownload === true);
    if (!download.ok) refusals.push({ code: "not-downloadable", message: `The .deb of ${version} cannot be installed: ${download.error}` });
  }

  if (channel.currentVersion && channel.currentVersion !== version && compareVersions(version, channel.currentVersion) < 0) {
    warnings.push(`${version} is older than ${channelName}'s current version ${channel.currentVersion}: this is a downgrade.`);
  }
  const drifting = members.filter((h) => h.observation?.status === "ok" && channel.currentVersion && h.observation.version !== channel.currentVersion);
  if (drifting.length > 0) warnings.push(`${drifting.length} host(s) drift from ${channelName}'s current version: ${drifting.map((h) => `${h.name} runs ${h.observation!.version}`).join("; ")}.`);
  if (unknown.length > 0) {
    warnings.push(`${unknown.length} host(s) not reachable or not known at the last probe (${unknown.map((h) => h.name).join(", ")}): they will be attempted and count as failures if they fail (${maxFailures} tolerated).`);
  }
  const stale = members.filter((h) => h.observation && now - h.observation.observedAt.getTime() > STALE_AFTER_MS);
  if (stale.length > 0) warnings.push(`${stale.length} host(s) not probed in the last hour; refresh the hosts for a current plan.`);
  if (already.length === members.length && members.length > 0) warnings.push(`Every host already runs ${version}; the run only checks them.`);

  return {
    kind,
    channel: channelName,
    version,
    fromVersion: channel.currentVersion,
    changesUrl: compareLink(config.repository.compareUrl, channel.currentVersion, version),
    freeze,
    build: { version: build.version, sha256: build.sha256, size: build.size, inIndex: build.inIndex, gitCommit: build.beta.gitCommit ?? null },
    change: change.map(withBatch),
    already: already.map(withBatch),
    unreachable: unknown.map(withBatch),
    batches,
    batchSize,
    maxFailures,
    gate,
    busy,
    download,
    warnings,
    refusals,
  };
}

/**
 * A channel that `requires` another accepts only a build proven there (its bake passed, or, where
 * that channel does not bake, a deployment of it succeeded). A rollback to what this channel ran
 * before, or to a version it ran successfully, needs no gate: it was good here already.
 */
async function evaluateGate(db: Db | Tx, config: AppConfig, channel: ChannelState, version: string, kind: DeploymentKind): Promise<DeploymentPlan["gate"]> {
  if (!channel.requires) return { requires: null, ok: true, message: null };
  if ((await provenVersions(db, config, channel.requires)).has(version)) return { requires: channel.requires, ok: true, message: null };
  if (kind === "rollback") {
    const here = await db.deployment.count({ where: { channelId: channel.id, status: "succeeded", OR: [{ version }, { fromVersion: version }] } });
    if (version === channel.previousVersion || here > 0) return { requires: channel.requires, ok: true, message: null };
  }
  const bakes = config.channels.find((c) => c.name === channel.requires)?.bake !== undefined;
  return {
    requires: channel.requires,
    ok: false,
    message: bakes
      ? `${version} has not finished baking on ${channel.requires}, which ${channel.name} requires (or its bake failed there); an admin may override.`
      : `${version} has not succeeded on ${channel.requires}, which ${channel.name} requires; promote it to ${channel.requires} first (an admin may override).`,
  };
}

/** Active deployments holding any of these hosts. */
export async function busyHosts(db: Db | Tx, hostIds: number[]): Promise<{ deploymentId: number; hosts: string[] }[]> {
  if (hostIds.length === 0) return [];
  const locks = await db.hostLock.findMany({ where: { hostId: { in: hostIds } }, select: { deploymentId: true, host: { select: { name: true } } }, orderBy: { hostId: "asc" } });
  const by = new Map<number, string[]>();
  for (const l of locks) by.set(l.deploymentId, [...(by.get(l.deploymentId) ?? []), l.host.name]);
  return [...by].map(([deploymentId, hosts]) => ({ deploymentId, hosts }));
}

const DOWNLOAD_CHECK_TTL_MS = 5 * 60_000;
const downloadChecks = ((globalThis as unknown as { scapDownloadChecks?: Map<string, { at: number; result: { ok: boolean; error: string | null } }> }).scapDownloadChecks ??= new Map());

async function checkDownload(config: AppConfig, build: BuildRow, cached: boolean): Promise<{ ok: boolean; error: string | null }> {
  const key = `${config.repository.url} ${build.filename} ${build.sha256} ${build.size}`;
  const hit = downloadChecks.get(key);
  if (cached && hit && Date.now() - hit.at < DOWNLOAD_CHECK_TTL_MS) return hit.result;
  let result: { ok: boolean; error: string | null };
  try {
    await checkBuildDownload(config.repository, build);
    result = { ok: true, error: null };
  } catch (e) {
    if (e instanceof RepositoryError) result = { ok: false, error: e.message };
    else {
      console.error(`deploy: checking the .deb of ${build.version} failed unexpectedly`, e);
      result = { ok: false, error: "the download check failed; the server log has the details" };
    }
  }
  downloadChecks.set(key, { at: Date.now(), result });
  if (downloadChecks.size > 200) downloadChecks.delete(downloadChecks.keys().next().value!);
  return result;
}
