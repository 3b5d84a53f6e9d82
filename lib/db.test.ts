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

  it("refuses a non-SQLite database URL", () => {
    expect(() => resolveDatabaseUrl("postgres://db.example/scap")).toThrow(/SQLite file: URL/);
  });
});
