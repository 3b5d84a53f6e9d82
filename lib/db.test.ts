import { describe, expect, it } from "vitest";
import { useTestDatabase } from "./testing/db";
import { getDb } from "./db";
import { resolveDatabaseUrl } from "./database-url";

describe("database", () => {
  it("opens a private migrated copy and round-trips a row", async () => {
    const file = useTestDatabase();
    expect(resolveDatabaseUrl()).toBe(`file:${file}`);
    const db = getDb();
    await db.auditEvent.create({ data: { actorName: "test", source: "system", action: "test.ping" } });
    expect(await db.auditEvent.count()).toBe(1);
  });

  it("a transaction whose COMMIT fails is ended: the next transactions run (they used to wait forever)", async () => {
    useTestDatabase();
    const db = getDb();
    // COMMIT checks deferred foreign keys, so it fails as it would on a full disk or a busy database.
    const failing = () =>
      db.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("PRAGMA defer_foreign_keys = ON");
        await tx.hostLock.create({ data: { hostId: 999_999, deploymentId: 999_999 } });
      });
    await expect(failing()).rejects.toThrow(/FOREIGN KEY|constraint/i);
    await expect(failing()).rejects.toThrow(/FOREIGN KEY|constraint/i);
    const written = await db.$transaction((tx) => tx.auditEvent.create({ data: { actorName: "test", source: "system", action: "test.after" } }), { maxWait: 2000 });
    expect(written.action).toBe("test.after");
    expect(await db.hostLock.count()).toBe(0);
    expect(await db.$queryRawUnsafe<{ journal_mode: string }[]>("PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
  });

  it("refuses a non-SQLite database URL", () => {
    expect(() => resolveDatabaseUrl("postgres://db.example/scap")).toThrow(/SQLite file: URL/);
  });
});
