import { execFile } from "node:child_process";
import { readdirSync, readFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { useTestDatabase } from "../testing/db";
import { getDb } from "../db";
import { eventHash } from "./chain";
import { recordAudit, type Actor } from "./log";
import { lastAuditVerification, runAuditVerification, verifyAuditChain } from "./verify";

const alice: Actor = { id: null, name: "alice", source: "ui", role: "admin", ip: "127.0.0.1", userAgent: "test" };

async function write(n: number, actor = alice) {
  for (let i = 0; i < n; i++) await getDb().$transaction((tx) => recordAudit(tx, actor, "user.add", `user-${i}`, { role: "viewer" }));
}

/** The tamperer: a direct connection that removes the append-only triggers first, as an attacker would. */
function tamper(file: string, sql: string, ...params: unknown[]) {
  const raw = new Database(file);
  raw.exec(`DROP TRIGGER IF EXISTS "AuditEvent_no_update"; DROP TRIGGER IF EXISTS "AuditEvent_no_delete";`);
  raw.prepare(sql).run(...params);
  raw.close();
}

describe("audit hash chain", () => {
  it("links every event to the one before and verifies an untouched log", async () => {
    useTestDatabase();
    expect(await verifyAuditChain()).toMatchObject({ ok: true, events: 0, headSeq: 0 });
    await write(5);
    const rows = await getDb().auditEvent.findMany({ orderBy: { id: "asc" } });
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(rows[0]!.prevHash).toBeNull();
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prevHash).toBe(rows[i - 1]!.hash);
    for (const r of rows) expect(eventHash({ ...r, seq: r.seq! }, r.prevHash)).toBe(r.hash);
    const v = await runAuditVerification("test");
    expect(v).toMatchObject({ ok: true, events: 5, headSeq: 5, headHash: rows[4]!.hash, problem: null });
    expect(await lastAuditVerification()).toMatchObject({ ok: true, events: 5, requestedBy: "test" });
  });

  it("names a changed event", async () => {
    const file = useTestDatabase();
    await write(6);
    const third = (await getDb().auditEvent.findFirstOrThrow({ where: { seq: 3 } })).id;
    tamper(file, `UPDATE "AuditEvent" SET "payload" = '{"role":"admin"}' WHERE "id" = ?`, third);
    const v = await verifyAuditChain();
    expect(v).toMatchObject({ ok: false, eventId: third, seq: 3 });
    expect(v.problem).toMatch(/was changed/);
  });

  it("names a changed event whose hash the tamperer recomputed: the next one no longer follows it", async () => {
    const file = useTestDatabase();
    await write(4);
    const row = await getDb().auditEvent.findFirstOrThrow({ where: { seq: 2 } });
    const forged = eventHash({ ...row, seq: 2, actorName: "mallory" }, row.prevHash);
    tamper(file, `UPDATE "AuditEvent" SET "actorName" = 'mallory', "hash" = ? WHERE "id" = ?`, forged, row.id);
    const v = await verifyAuditChain();
    expect(v).toMatchObject({ ok: false, seq: 3 });
    expect(v.problem).toMatch(new RegExp(`event #${row.id} was rewritten`));
  });

  it("names the event after a deleted one, and a deleted last event", async () => {
    const file = useTestDatabase();
    await write(5);
    const [second, third, fifth] = await Promise.all([2, 3, 5].map((seq) => getDb().auditEvent.findFirstOrThrow({ where: { seq } })));
    tamper(file, `DELETE FROM "AuditEvent" WHERE "id" = ?`, second!.id);
    let v = await verifyAuditChain();
    expect(v).toMatchObject({ ok: false, eventId: third!.id, seq: 3 });
    expect(v.problem).toMatch(/seq 2 is missing\) were deleted/);

    const other = useTestDatabase();
    await write(5);
    tamper(other, `DELETE FROM "AuditEvent" WHERE "seq" = 5`);
    v = await verifyAuditChain();
    expect(v.ok).toBe(false);
    expect(v.problem).toMatch(/head records seq 5: the last 1 event\(s\) were deleted/);
    expect(fifth).toBeTruthy();
  });

  it("names an inserted event, with or without a forged place in the chain", async () => {
    const file = useTestDatabase();
    await write(3);
    tamper(file, `INSERT INTO "AuditEvent" ("at", "actorName", "source", "action", "payload") VALUES (?, 'alice', 'ui', 'user.add', '{"role":"admin"}')`, new Date().toISOString());
    let v = await verifyAuditChain();
    const inserted = (await getDb().auditEvent.findFirstOrThrow({ orderBy: { id: "desc" } })).id;
    expect(v).toMatchObject({ ok: false, eventId: inserted });
    expect(v.problem).toMatch(/inserted behind the app's back/);

    // A forger who knows the algorithm appends a well-formed event but cannot move the head without it showing.
    const other = useTestDatabase();
    await write(3);
    const last = await getDb().auditEvent.findFirstOrThrow({ where: { seq: 3 } });
    const at = new Date();
    const content = { seq: 4, at, actorId: null, actorName: "mallory", source: "ui", action: "user.add", target: "x", channel: null, version: null, payload: '{"role":"admin"}', ip: null, userAgent: null };
    tamper(
      other,
      `INSERT INTO "AuditEvent" ("seq", "at", "actorName", "source", "action", "target", "payload", "prevHash", "hash") VALUES (4, ?, 'mallory', 'ui', 'user.add', 'x', '{"role":"admin"}', ?, ?)`,
      at.toISOString().replace("Z", "+00:00"),
      last.hash,
      eventHash(content, last.hash),
    );
    v = await verifyAuditChain();
    expect(v.ok).toBe(false);
    expect(v.problem).toMatch(/head records seq 3 with another hash/);

    // Inserted between two events with a copied place: the seq goes back.
    const third = useTestDatabase();
    await write(3);
    const first = await getDb().auditEvent.findFirstOrThrow({ where: { seq: 1 } });
    tamper(third, `INSERT INTO "AuditEvent" ("id", "at", "actorName", "source", "action", "payload", "seq", "prevHash", "hash") VALUES (100, ?, 'x', 'ui', 'user.add', '{}', -1, ?, ?)`, new Date().toISOString(), first.hash, first.hash);
    v = await verifyAuditChain();
    expect(v).toMatchObject({ ok: false, eventId: 100 });
  });

  it("stays linear under 50 concurrent writers in one process", async () => {
    useTestDatabase();
    const db = getDb();
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        db.$transaction((tx) => recordAudit(tx, { ...alice, name: `writer-${i}` }, "user.add", `u${i}`, { role: "viewer" }), { maxWait: 30_000, timeout: 30_000 }),
      ),
    );
    const seqs = (await db.auditEvent.findMany({ orderBy: { id: "asc" }, select: { seq: true } })).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await verifyAuditChain()).toMatchObject({ ok: true, events: 50, headSeq: 50 });
  });

  it("stays linear with two processes writing at once", async () => {
    const file = useTestDatabase();
    const child = promisify(execFile)("npx", ["tsx", "--conditions=react-server", path.join(import.meta.dirname, "testing/write-events.ts"), "50", "child"], {
      env: { ...process.env, DATABASE_URL: `file:${file}` },
      cwd: path.resolve(import.meta.dirname, "../.."),
    });
    // Start writing once the child is likely writing too, and keep on until it has finished.
    let parentWrites = 0;
    let done = false;
    void child.finally(() => (done = true));
    while (!done || parentWrites < 50) {
      await getDb().$transaction((tx) => recordAudit(tx, alice, "user.add", `parent-${parentWrites}`, { role: "viewer" }), { maxWait: 30_000, timeout: 30_000 });
      parentWrites++;
      if (!done) await new Promise((r) => setTimeout(r, 5));
    }
    expect((await child).stdout).toContain("wrote 50");
    const rows = await getDb().auditEvent.findMany({ orderBy: { id: "asc" }, select: { seq: true, actorName: true } });
    expect(rows).toHaveLength(50 + parentWrites);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    // Interleaved: both processes wrote between each other's events.
    const switches = rows.filter((r, i) => i > 0 && r.actorName !== rows[i - 1]!.actorName).length;
    expect(switches).toBeGreaterThan(1);
    expect(await verifyAuditChain()).toMatchObject({ ok: true, events: rows.length });
  }, 120_000);
});

describe("the migration to the chain", () => {
  it("chains the events an existing database already has, and keeps them append-only", async () => {
    const dir = path.resolve(import.meta.dirname, "../../prisma/migrations");
    const migrations = readdirSync(dir).filter((d) => /^\d+_/.test(d)).sort();
    const chainMigration = migrations.indexOf("20261201320000_audit_chain");
    expect(chainMigration).toBeGreaterThan(0);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "scap-legacy-")), "legacy.db");
    const raw = new Database(file);
    for (const m of migrations.slice(0, chainMigration)) raw.exec(readFileSync(path.join(dir, m, "migration.sql"), "utf8"));
    const insert = raw.prepare(`INSERT INTO "AuditEvent" ("at", "actorName", "source", "action", "target", "payload") VALUES (?, ?, 'ui', ?, ?, ?)`);
    insert.run("2026-11-30T10:00:00.000+00:00", "alice", "user.add", "bob", '{"role":"viewer"}');
    insert.run("2026-11-30T10:05:00.000+00:00", "bob", "deployment.cancel", "canary", '{"deploymentId":3,"channel":"canary","version":"4.81.0-1"}');
    insert.run("2026-11-30T10:06:00.000+00:00", "bob", "user.signin", "bob", "{}");
    for (const m of migrations.slice(chainMigration)) raw.exec(readFileSync(path.join(dir, m, "migration.sql"), "utf8"));
    expect(raw.prepare(`SELECT "seq", "channel", "version", "hash" FROM "AuditEvent" ORDER BY "id"`).all()).toEqual([
      { seq: 1, channel: null, version: null, hash: null },
      { seq: 2, channel: "canary", version: "4.81.0-1", hash: null },
      { seq: 3, channel: null, version: null, hash: null },
    ]);
    raw.close();
    process.env.DATABASE_URL = `file:${file}`;

    // The first event written after the migration chains the earlier ones, under the head's lock.
    await write(1);
    const rows = await getDb().auditEvent.findMany({ orderBy: { id: "asc" } });
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(rows.every((r) => r.hash)).toBe(true);
    expect(rows[3]!.prevHash).toBe(rows[2]!.hash);
    expect(await verifyAuditChain()).toMatchObject({ ok: true, events: 4 });
    // Once chained, not even the hash of an old event can be set again.
    await expect(getDb().$executeRawUnsafe(`UPDATE "AuditEvent" SET "hash" = 'x' WHERE "seq" = 1`)).rejects.toThrow();
    await expect(getDb().$executeRawUnsafe(`UPDATE "AuditEvent" SET "actorName" = 'x' WHERE "seq" = 2`)).rejects.toThrow();
  });

  it("chains old events at the first verification too, and refuses a hash on a new event", async () => {
    const file = useTestDatabase();
    await write(2);
    await expect(getDb().$executeRawUnsafe(`UPDATE "AuditEvent" SET "hash" = NULL WHERE "seq" = 2`)).rejects.toThrow();
    tamper(file, `INSERT INTO "AuditEvent" ("at", "actorName", "source", "action", "payload") VALUES (?, 'x', 'ui', 'user.add', '{}')`, new Date().toISOString());
    // A row with no hash written after the migration is never chained by the app: it stays flagged.
    expect((await verifyAuditChain()).problem).toMatch(/inserted/);
    expect((await verifyAuditChain()).problem).toMatch(/inserted/);
  });
});
