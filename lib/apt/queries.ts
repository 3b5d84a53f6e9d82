import "server-only";
import type { RepositoryConfig } from "../config-schema";
import { getDb, type Db, type Tx } from "../db";
import { repositorySourceKey } from "./source";
import type { RepositoryBuild } from "./packages";
import { compareVersions, parseBetaVersion, parseVersion, type BetaVersion } from "./version";

/** A build as stored: what the index listed, plus when it was seen and the beta stamp of its version. */
export interface BuildRow extends RepositoryBuild {
  id: number;
  firstSeenAt: Date;
  lastSeenAt: Date;
  inIndex: boolean;
  beta: BetaVersion;
}

function parseFields(json: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(json);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/**
 * Every build ever seen (of one package, or all), newest first by Debian version order; SQL
 * cannot sort versions, so the sort is done here with dpkg's rules.
 */
export async function listBuilds(pkg?: string, db: Db | Tx = getDb()): Promise<BuildRow[]> {
  const rows = await db.build.findMany({ where: pkg ? { package: pkg } : {} });
  const parsed = rows.map((r) => ({ r, v: parseVersion(r.version) }));
  parsed.sort((a, b) => compareVersions(b.v, a.v) || a.r.package.localeCompare(b.r.package) || a.r.architecture.localeCompare(b.r.architecture));
  return parsed.map(({ r }) => toBuildRow(r));
}

/** A build of the configured package by exact version, or null; for checking a version before it goes anywhere. */
export async function findBuild(config: Pick<RepositoryConfig, "package" | "architecture">, version: string, db: Db | Tx = getDb()): Promise<BuildRow | null> {
  const rows = await db.build.findMany({ where: { package: config.package, version, architecture: { in: [config.architecture, "all"] } } });
  const r = rows.find((x) => x.architecture === config.architecture) ?? rows[0];
  return r ? toBuildRow(r) : null;
}

function toBuildRow(r: Omit<BuildRow, "fields" | "beta"> & { fields: string }): BuildRow {
  return { ...r, fields: parseFields(r.fields), beta: parseBetaVersion(r.version) };
}

export type RepositoryStatus = NonNullable<Awaited<ReturnType<Db["repositoryState"]["findUnique"]>>>;

/** The stored state of reading the configured repository, or null before the first attempt. */
export async function getRepositoryStatus(config: RepositoryConfig, db: Db | Tx = getDb()): Promise<RepositoryStatus | null> {
  return db.repositoryState.findUnique({ where: { source: repositorySourceKey(config) } });
}
