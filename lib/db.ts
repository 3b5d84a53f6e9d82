import "server-only";
import { PrismaClient } from "./generated/prisma/client";
import { resolveDatabaseUrl } from "./database-url";
import { sqliteAdapter } from "./sqlite-adapter";

export type { Prisma } from "./generated/prisma/client";

function createClient(url: string) {
  return new PrismaClient({
    adapter: sqliteAdapter(url),
    log: process.env.NODE_ENV === "development" ? ["query", "warn", "error"] : ["warn", "error"],
    omit: { user: { passwordHash: true }, apiToken: { tokenHash: true } },
  });
}

export type Db = ReturnType<typeof createClient>;
/** A transaction client, for domain functions that join a caller's transaction. */
export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

const globalForDb = globalThis as unknown as { scapDb?: { url: string; client: Db } };

/** The one Prisma client of this process (kept on globalThis across dev reloads). */
export function getDb(): Db {
  const url = resolveDatabaseUrl();
  if (globalForDb.scapDb?.url !== url) {
    void globalForDb.scapDb?.client.$disconnect();
    globalForDb.scapDb = { url, client: createClient(url) };
  }
  return globalForDb.scapDb.client;
}
