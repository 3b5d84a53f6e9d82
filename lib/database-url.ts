// Resolves DATABASE_URL once, so the app, the migration CLI and scripts open the same file.
// Pure (no server-only): prisma.config.ts and scripts import it too.
import path from "node:path";

export const DEFAULT_DATABASE_URL = "file:./data/scap-channels.db";

/** An absolute `file:` URL for SQLite; relative paths are taken from the working directory. */
export function resolveDatabaseUrl(raw = process.env.DATABASE_URL || DEFAULT_DATABASE_URL): string {
  if (!raw.startsWith("file:")) {
    throw new Error(`DATABASE_URL must be a SQLite file: URL (got a ${raw.split(":")[0]}: URL)`);
  }
  const file = raw.slice("file:".length).replace(/^\/\/(?=\/)/, "");
  if (file === "" || file.startsWith(":memory:")) return raw;
  return `file:${path.resolve(file)}`;
}

export function databaseFile(url = resolveDatabaseUrl()): string {
  return url.slice("file:".length);
}
