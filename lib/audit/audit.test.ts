import { beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import { getDb } from "../db";
import { recordAudit, SYSTEM_ACTOR } from "./log";
import { csvCell, exportAuditEvents, listAuditEvents } from "./queries";

beforeAll(async () => {
  useTestDatabase();
  const db = getDb();
  for (let i = 0; i < 7; i++) {
    await db.$transaction((tx) =>
      recordAudit(tx, { id: null, name: i % 2 ? "alice" : "bob", source: "ui", role: "viewer", ip: "127.0.0.1", userAgent: "test" }, "user.add", `=cmd|' /C calc'!A${i}`, { role: "viewer" }),
    );
  }
});

async function collect(gen: AsyncGenerator<string>) {
  let out = "";
  for await (const chunk of gen) out += chunk;
  return out;
}

describe("audit log", () => {
  it("refuses a payload that does not match its action's schema", async () => {
    await expect(getDb().$transaction((tx) => recordAudit(tx, SYSTEM_ACTOR, "user.add", null, { role: 3 } as never))).rejects.toThrow();
    expect(await getDb().auditEvent.count()).toBe(7);
  });

  it("pages newest first with a cursor and filters by actor", async () => {
    const first = await listAuditEvents({ limit: 3 });
    expect(first.events.map((e) => e.target?.slice(-1))).toEqual(["6", "5", "4"]);
    const second = await listAuditEvents({ limit: 3, cursor: first.nextCursor! });
    expect(second.events.map((e) => e.target?.slice(-1))).toEqual(["3", "2", "1"]);
    const third = await listAuditEvents({ limit: 3, cursor: second.nextCursor! });
    expect(third.events).toHaveLength(1);
    expect(third.nextCursor).toBeNull();
    const alice = await listAuditEvents({ limit: 50, actor: "alice" });
    expect(alice.events.every((e) => e.actor === "alice")).toBe(true);
    expect(alice.events).toHaveLength(3);
  });

  it("exports CSV oldest first with formula cells defused, and JSON that parses", async () => {
    const csv = await collect(exportAuditEvents("csv", {}));
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("id,at,actor,source,action,target,ip,userAgent,payload,channel,version,summary,seq,hash");
    expect(lines).toHaveLength(8);
    expect(lines[1]).toContain(`'=cmd|' /C calc'!A0`);
    expect(lines[1]).toContain(`"{""role"":""viewer""}"`);
    const json = JSON.parse(await collect(exportAuditEvents("json", { actor: "bob" })));
    expect(json).toHaveLength(4);
    expect(json[0]).toMatchObject({ actor: "bob", action: "user.add", payload: { role: "viewer" } });
  });
});

describe("append-only storage", () => {
  it("refuses to update or delete an audit event in the database itself", async () => {
    const db = getDb();
    const first = await db.auditEvent.findFirstOrThrow();
    // Prisma reports the trigger's abort as a constraint violation; the rows are what matter.
    await expect(db.auditEvent.update({ where: { id: first.id }, data: { actorName: "mallory" } })).rejects.toThrow();
    await expect(db.auditEvent.delete({ where: { id: first.id } })).rejects.toThrow();
    await expect(db.$executeRawUnsafe(`DELETE FROM "AuditEvent"`)).rejects.toThrow();
    expect(await db.auditEvent.count()).toBe(7);
    expect((await db.auditEvent.findUniqueOrThrow({ where: { id: first.id } })).actorName).toBe(first.actorName);
  });
});

describe("CSV cells", () => {
  it("keeps every cell a spreadsheet would run as a formula as text", () => {
    const risky = [
      "=1+1",
      "+1",
      "-1",
      "@SUM(A1)",
      "\t=1+1",
      "\r=1+1",
      "\n=1+1",
      "\tplain",
      "\nplain",
      "   =cmd|' /C calc'!A0",
      ";=cmd",
      " ;=cmd",
      ",=cmd",
      "\uff1dcmd", // full-width =
    ];
    for (const s of risky) {
      const cell = csvCell(s);
      const unquoted = cell.startsWith('"') ? cell.slice(1, -1).replaceAll('""', '"') : cell;
      expect(unquoted.startsWith("'"), JSON.stringify(s)).toBe(true);
    }
  });

  it("leaves ordinary text alone and quotes what a ; or tab separated reader would split", () => {
    expect(csvCell("user.signin")).toBe("user.signin");
    expect(csvCell("a=b")).toBe("a=b");
    expect(csvCell(null)).toBe("");
    expect(csvCell({ role: "viewer" })).toBe('"{""role"":""viewer""}"');
    expect(csvCell("a;=b")).toBe('"a;=b"');
    expect(csvCell("a\t=b")).toBe('"a\t=b"');
  });
});
