// A fresh, migrated SQLite database for one test suite. Tests never touch a non-local database.
import { copyFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { inject } from "vitest";

/** Points DATABASE_URL at a private copy of the migrated template; call before using getDb(). */
export function useTestDatabase(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), "scap-test-")), "test.db");
  copyFileSync(inject("dbTemplate"), file);
  process.env.DATABASE_URL = `file:${file}`;
  return file;
}
