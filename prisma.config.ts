import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import type { PrismaConfig } from "prisma";
import { resolveDatabaseUrl } from "./lib/database-url";

// The schema's datasource keeps `url` (without it the CLI looks for a native engine to download).
process.env.DATABASE_URL = resolveDatabaseUrl();

export default {
  experimental: { adapter: true },
  engine: "js",
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations") },
  adapter: async () => new PrismaBetterSQLite3({ url: process.env.DATABASE_URL! }),
} satisfies PrismaConfig;
