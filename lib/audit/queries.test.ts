import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { useTestDatabase } from "../testing/db";
import { getDb } from "../db";
import { recordAudit, SYSTEM_ACTOR, type Actor } from "./log";
import { auditQuerySchema, exportAuditEvents, listAuditEvents, type AuditFilter } from "./queries";

const alice: Actor = { id: null, name: "alice", source: "ui", role: "deployer" };
const bob: Actor = { id: null, name: "bob", source: "api", role: "deployer" };
const day = (d: number, h = 12) => new Date(Date.UTC(2026, 10, d, h));

function start(id: number, channel: string, version: string, reason: string) {
  return { deploymentId: id, kind: "promote" as const, channel, version, fromVersion: null, hosts: ["h1"], batches: 1, batchSize: 1, maxFailures: 0, reason, override: false, retryOf: null, salLine: "" };
}

beforeAll(async () => {
  useTestDatabase();
  vi.useFakeTimers({ toFake: ["Date"] });
  const db = getDb();
  const at = async (when: Date, fn: Parameters<typeof db.$transaction>[0]) => {
    vi.setSystemTime(when);
    await db.$transaction(fn as never);
  };
  await at(day(1), (tx) => recordAudit(tx, alice, "deployment.start", "canary", start(1, "canary", "4.80.0-1", "first train")));
  await at(day(2), (tx) => recordAudit(tx, bob, "deployment.start", "beta", start(2, "beta", "4.80.0-1", "beta train")));
  await at(day(3), (tx) => recordAudit(tx, SYSTEM_ACTOR, "builds.refresh", "repo", { ok: true, added: ["4.81.0-1"] }));
  await at(day(4), (tx) => recordAudit(tx, alice, "deployment.start", "canary", start(3, "canary", "4.81.0-1", "hotfix for T123")));
  await at(day(4), (tx) => recordAudit(tx, bob, "deployment.cancel", "canary", { deploymentId: 3, channel: "canary", version: "4.81.0-1" }));
  // Twelve events in one millisecond: the keyset must not skip or repeat any of them.
  for (let i = 0; i < 12; i++) await at(day(5), (tx) => recordAudit(tx, alice, "user.signin", "alice", {}));
  vi.useRealTimers();
});

afterAll(() => vi.useRealTimers());

const f = (raw: Record<string, string>) => auditQuerySchema.parse(raw);
async function ids(filter: Partial<AuditFilter>) {
  return (await listAuditEvents({ ...filter, limit: 500 })).events.map((e) => e.summary);
}

describe("audit filters", () => {
  it("filters by actor, action, channel, version, time range and text, combined", async () => {
    expect(await ids(f({ actor: "bob" }))).toHaveLength(2);
    expect(await ids(f({ action: "deployment.start" }))).toHaveLength(3);
    expect(await ids(f({ channel: "canary" }))).toHaveLength(3);
    expect(await ids(f({ version: "4.81.0-1" }))).toHaveLength(2);
    expect(await ids(f({ channel: "canary", version: "4.81.0-1", actor: "alice" }))).toEqual(["alice promoted 4.81.0-1 to canary: 1 host (#3) — “hotfix for T123”"]);
    expect(await ids(f({ from: "2026-11-02", to: "2026-11-03" }))).toHaveLength(2);
    expect(await ids(f({ from: "2026-11-04T12:00:00Z" }))).toHaveLength(14);
    expect(await ids(f({ to: "2026-11-01" }))).toHaveLength(1);
    expect(await ids(f({ q: "T123" }))).toHaveLength(1);
    expect(await ids(f({ q: "train", actor: "bob" }))).toEqual(["bob promoted 4.80.0-1 to beta: 1 host (#2) — “beta train”"]);
    expect(await ids(f({ q: "nothing like this" }))).toEqual([]);
  });

  it("refuses a date it cannot read and ignores empty fields", () => {
    expect(auditQuerySchema.safeParse({ from: "yesterday" }).success).toBe(false);
    expect(auditQuerySchema.parse({ actor: "", q: "  " })).toMatchObject({ actor: undefined, q: undefined });
  });
});

describe("audit keyset paging", () => {
  it("pages newest first through events of the same instant without gaps or repeats", async () => {
    const seen: number[] = [];
    let cursor: number | undefined;
    let pages = 0;
    do {
      const page = await listAuditEvents({ limit: 5, cursor });
      seen.push(...page.events.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    const all = (await getDb().auditEvent.findMany({ orderBy: [{ at: "desc" }, { id: "desc" }], select: { id: true } })).map((r) => r.id);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(17);
  });

  it("pages a filter, and exports it oldest first in pages", async () => {
    const first = await listAuditEvents({ ...f({ actor: "alice" }), limit: 4 });
    const second = await listAuditEvents({ ...f({ actor: "alice" }), limit: 20, cursor: first.nextCursor! });
    expect(first.events.length + second.events.length).toBe(14);
    expect(second.nextCursor).toBeNull();
    let csv = "";
    for await (const chunk of exportAuditEvents("csv", f({ channel: "canary" }))) csv += chunk;
    const lines = csv.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain("first train");
    expect(lines[3]).toContain("bob cancelled #3 (4.81.0-1 to canary)");
    let json = "";
    for await (const chunk of exportAuditEvents("json", f({ q: "train" }))) json += chunk;
    expect((JSON.parse(json) as { payload: { reason: string } }[]).map((e) => e.payload.reason)).toEqual(["first train", "beta train"]);
    json = "";
    for await (const chunk of exportAuditEvents("json", f({ channel: "canary", from: "2026-11-02", to: "2026-11-04" }))) json += chunk;
    expect((JSON.parse(json) as { action: string }[]).map((e) => e.action)).toEqual(["deployment.start", "deployment.cancel"]);
    json = "";
    for await (const chunk of exportAuditEvents("json", f({ to: "2026-11-04T12:00:00.000Z" }))) json += chunk;
    expect(JSON.parse(json)).toHaveLength(5);
  });
});

describe("audit actor and action together", () => {
  it("pages them newest first across cursors, the same events as a plain reading", async () => {
    const expected = (
      await getDb().auditEvent.findMany({ where: { actorName: "alice", action: "user.signin" }, orderBy: [{ at: "desc" }, { id: "desc" }], select: { id: true } })
    ).map((r) => r.id);
    expect(expected).toHaveLength(12);
    const seen: number[] = [];
    let cursor: number | undefined;
    do {
      const page = await listAuditEvents({ ...f({ actor: "alice", action: "user.signin" }), limit: 5, cursor });
      expect(page.events.every((e) => e.actor === "alice" && e.action === "user.signin")).toBe(true);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(expected);
    expect((await listAuditEvents({ ...f({ actor: "bob", action: "user.signin" }), limit: 5 })).events).toEqual([]);
  });

  it("reads them through the (actorName, action, at) index, in its order", async () => {
    const plan = await getDb().$queryRawUnsafe<{ detail: string }[]>(
      `EXPLAIN QUERY PLAN SELECT * FROM "AuditEvent" WHERE "actorName" = 'alice' AND "action" = 'user.signin' AND "at" <= '2026-11-05T12:00:00.000+00:00' ORDER BY "at" DESC, "id" DESC LIMIT 51`,
    );
    const details = plan.map((p) => p.detail).join("\n");
    expect(details).toContain("AuditEvent_actorName_action_at_idx (actorName=? AND action=? AND at<?)");
    expect(details).not.toContain("TEMP B-TREE");
  });
});

describe("audit export", () => {
  it("streams more than a page of events of one instant, each once, oldest first, and takes % and _ in the text literally", async () => {
    useTestDatabase();
    const db = getDb();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(day(9));
    try {
      for (let i = 0; i < 2100; i++) await db.$transaction((tx) => recordAudit(tx, alice, "user.add", i === 7 ? "50%_off" : i === 8 ? "50xxoff" : `u${i}`, { role: "viewer" }));
    } finally {
      vi.useRealTimers();
    }
    let csv = "";
    let chunks = 0;
    for await (const chunk of exportAuditEvents("csv", {})) {
      csv += chunk;
      chunks++;
    }
    const ids = csv.trim().split("\n").slice(1).map((l) => Number(l.split(",")[0]));
    expect(ids).toHaveLength(2100);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(2100);
    expect(chunks).toBeGreaterThanOrEqual(4);
    let json = "";
    for await (const chunk of exportAuditEvents("json", f({ q: "50%_off" }))) json += chunk;
    expect((JSON.parse(json) as { target: string }[]).map((e) => e.target)).toEqual(["50%_off"]);
    expect((await listAuditEvents({ ...f({ q: "50%_off" }), limit: 50 })).events.map((e) => e.target)).toEqual(["50%_off"]);
  });
});
