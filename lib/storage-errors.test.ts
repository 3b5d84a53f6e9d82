import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { storageProblem } from "./storage-errors";

describe("storageProblem", () => {
  it("names a database held by another writer, from SQLite's own error", () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "scap-storage-")), "x.db");
    const holder = new Database(file);
    holder.exec("CREATE TABLE t (x)");
    holder.exec("BEGIN EXCLUSIVE");
    const other = new Database(file, { timeout: 0 });
    let error: unknown;
    try {
      other.exec("INSERT INTO t VALUES (1)");
    } catch (e) {
      error = e;
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
      other.close();
    }
    expect((error as { code?: string }).code).toBe("SQLITE_BUSY");
    expect(storageProblem(error)).toMatch(/busy .*nothing was changed/);
  });

  it("names a full disk, also when wrapped as a cause", () => {
    const driver = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    expect(storageProblem(new Error("Invalid `prisma.channel.update()` invocation", { cause: driver }))).toMatch(/disk is full/);
  });

  it("leaves other errors alone", () => {
    expect(storageProblem(new Error("Cannot read properties of undefined"))).toBeNull();
    expect(storageProblem(null)).toBeNull();
  });
});
