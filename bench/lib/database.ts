// One migrated SQLite database per benchmark process. The Prisma client is cached per process, so
// DATABASE_URL is set once, before the first import of anything that touches the database.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { onCleanup } from "./cleanup";

let url: string | null = null;

export function benchDatabase(): string {
  if (url) return url;
  const dir = mkdtempSync(path.join(os.tmpdir(), "scap-bench-db-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "bench.db");
  execFileSync("npx", ["prisma", "migrate", "deploy"], { env: { ...process.env, DATABASE_URL: `file:${file}` }, stdio: "ignore" });
  url = `file:${file}`;
  process.env.DATABASE_URL = url;
  return url;
}
