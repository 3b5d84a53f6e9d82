import "server-only";
// Composes the domain reads into the views the pages and the JSON API share.
import { compareVersions } from "./apt/version";
import { getRepositoryStatus, listBuilds } from "./apt/queries";
import type { AppConfig } from "./config";
import type { BuildView, ChannelView, HostView, ProbeView, RepositoryView } from "./client-types";
import { listChannels } from "./deploy/channels";
import { listHosts } from "./deploy/fleet-view";
import { getProbeProgress } from "./fleet/probe";

/** Channels as clients see them (without row ids). */
export async function channelsView(): Promise<ChannelView[]> {
  return (await listChannels()).map(({ id: _id, currentSince: _since, ...view }) => view);
}

export async function repositoryView(config: AppConfig | null): Promise<RepositoryView> {
  if (!config) {
    return { configured: false, unsigned: false, source: null, url: null, lastAttemptAt: null, lastSuccessAt: null, signerKey: null, releaseDate: null, validUntil: null, lastErrorKind: null, lastError: null, lastErrorAt: null, buildCount: 0 };
  }
  const s = await getRepositoryStatus(config.repository);
  const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;
  return {
    configured: true,
    unsigned: config.repository.unsigned,
    source: s?.source ?? null,
    url: config.repository.url,
    lastAttemptAt: iso(s?.lastAttemptAt),
    lastSuccessAt: iso(s?.lastSuccessAt),
    signerKey: s?.signerKey ?? null,
    releaseDate: iso(s?.releaseDate),
    validUntil: iso(s?.validUntil),
    lastErrorKind: s?.lastErrorKind ?? null,
    lastError: s?.lastError ?? null,
    lastErrorAt: iso(s?.lastErrorAt),
    buildCount: s?.buildCount ?? 0,
  };
}

/** Builds newest first by Debian order, each with the channels that run it now. */
export async function buildsView(config: AppConfig | null, channels?: ChannelView[]): Promise<BuildView[]> {
  if (!config) return [];
  const [builds, chans] = await Promise.all([listBuilds(config.repository.package), channels ?? channelsView()]);
  return builds.map((b) => {
    const { beta } = b;
    return {
      version: b.version,
      architecture: b.architecture,
      filename: b.filename,
      sha256: b.sha256,
      size: b.size,
      firstSeenAt: b.firstSeenAt.toISOString(),
      lastSeenAt: b.lastSeenAt.toISOString(),
      inIndex: b.inIndex,
      channels: chans.filter((c) => c.currentVersion === b.version).map((c) => c.name),
      buildTime: beta.buildTime?.toISOString() ?? null,
      gitCommit: beta.gitCommit,
      upstream: beta.upstream,
    };
  });
}

export async function hostsView(): Promise<HostView[]> {
  return (await listHosts()).map((h) => ({
    name: h.name,
    address: h.address,
    port: h.port,
    channels: h.channels,
    version: h.version,
    status: h.status,
    errorKind: h.errorKind,
    error: h.error,
    observedAt: h.observedAt?.toISOString() ?? null,
    drift: h.drift,
    offMajority: h.offMajority,
    lastKnown: h.lastKnown && { version: h.lastKnown.version, status: h.lastKnown.status, observedAt: h.lastKnown.observedAt.toISOString() },
  }));
}

export function probeView(): ProbeView | null {
  const p = getProbeProgress();
  if (!p) return null;
  return {
    id: p.id,
    startedAt: p.startedAt.toISOString(),
    finishedAt: p.finishedAt?.toISOString() ?? null,
    total: p.total,
    done: p.done,
    running: p.running,
    error: p.error ?? null,
    busy: p.busy,
  };
}

/** The newest downloadable build newer than a channel's current version, if any. */
export function newestNotOn(builds: BuildView[], channel: ChannelView): BuildView | null {
  const newest = builds.find((b) => b.inIndex);
  if (!newest) return null;
  if (channel.currentVersion && compareVersions(newest.version, channel.currentVersion) <= 0) return null;
  return newest;
}
