// 4. The database's disk fills up (a small tmpfs volume) during audit writes and during a
// promotion; another writer holds the database. The app answers with a clear error, never writes a
// half deployment, and recovers once the space or the lock is back.
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { setRepositoryMode } from "../../e2e/sandbox";
import { ACTIVE, App, assertChainVerifies, assertConsistent, check, count, deployment, promote, ROOT, runScript, sleep, TSX, until, waitFinished, type Tokens } from "../harness";
import type { Scenario } from "../index";
import type { Suite } from "../suite";
import { otherVersion } from "./crash";

const STORAGE_ERROR = /disk is full|busy|nothing was changed/i;

/** Fills the volume until a write fails with ENOSPC; answers the filler's path. */
function fill(dir: string): string {
  const file = path.join(dir, "filler");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(256 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
  // The last bytes too: a write of one page must not fit.
  const small = openSync(path.join(dir, "filler-tail"), "w");
  try {
    for (;;) writeSync(small, Buffer.alloc(512));
  } catch {
    // Full.
  } finally {
    closeSync(small);
  }
  return file;
}

function unfill(dir: string): void {
  rmSync(path.join(dir, "filler"), { force: true });
  rmSync(path.join(dir, "filler-tail"), { force: true });
}

/** Moves the write-ahead log into the database file and empties it, so the next write needs new space. */
function truncateWal(app: App): void {
  const db = new Database(app.databaseUrl.replace(/^file:/, ""));
  try {
    db.pragma("busy_timeout = 5000");
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

async function tightApp(suite: Suite): Promise<{ app: App; tokens: Tokens; volume: string }> {
  const volume = path.join(suite.dir, "tight");
  mkdirSync(volume, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", volume]);
  const app = new App(suite.spare, `file:${path.join(volume, "tight.db")}`, suite.app.configPath, suite.dir);
  execFileSync("npx", [...TSX, "scripts/prepare-db.ts"], { cwd: ROOT, env: app.env(), stdio: ["ignore", "ignore", "inherit"] });
  const tokens = JSON.parse(runScript(app, ["faults/prepare-users.ts"])) as Tokens;
  await app.start();
  const r = await app.post("/api/builds/refresh", tokens.admin);
  check(r.status === 200 && r.json.outcome.ok, `refresh on the tight volume: ${r.text.slice(0, 200)}`);
  return { app, tokens, volume };
}

async function closeTight(app: App, volume: string): Promise<void> {
  await app.stop();
  try {
    execFileSync("umount", [volume]);
  } catch {
    execFileSync("umount", ["-l", volume]);
  }
}

const diskFull: Scenario = {
  id: "4a",
  title: "database disk full during audit writes and a promotion start, then space returns",
  async run(suite, log) {
    const { app, tokens, volume } = await tightApp(suite);
    const figures: string[] = [];
    try {
      const canary = suite.hosts[0]!;
      const { to } = await otherVersion(suite, [canary]);
      const deployments = count(app, "SELECT count(*) AS n FROM Deployment");
      const events = count(app, "SELECT count(*) AS n FROM AuditEvent");
      truncateWal(app);
      fill(volume);
      const freeze = await app.post("/api/channels/canary/freeze", tokens.admin, { reason: "fault suite: disk full" });
      check(freeze.status === 503, `freeze on a full disk answered ${freeze.status}: ${freeze.text.slice(0, 200)}`);
      check(STORAGE_ERROR.test(freeze.json?.error?.message ?? ""), `unclear error on a full disk: ${freeze.text.slice(0, 200)}`);
      const start = await app.post("/api/channels/canary/promote", tokens.deployer, { version: to, reason: "fault suite: disk full" });
      check(start.status === 503, `promote on a full disk answered ${start.status}: ${start.text.slice(0, 200)}`);
      figures.push(`full: freeze and promote answered 503 "${String(freeze.json.error.message).slice(0, 60)}…"`);
      check(count(app, "SELECT count(*) AS n FROM Deployment") === deployments, "a deployment was written on a full disk");
      check(count(app, "SELECT count(*) AS n FROM AuditEvent") === events, "an audit event was written on a full disk");
      check(count(app, "SELECT count(*) AS n FROM Channel WHERE name = 'canary' AND frozenAt IS NOT NULL") === 0, "canary is frozen though the freeze failed");
      assertConsistent(app);

      unfill(volume);
      const again = await app.post("/api/channels/canary/freeze", tokens.admin, { reason: "fault suite: space is back" });
      check(again.status === 200, `freeze after space returned answered ${again.status}: ${again.text.slice(0, 200)}`);
      const thaw = await app.post("/api/channels/canary/unfreeze", tokens.admin);
      check(thaw.status === 200, `unfreeze answered ${thaw.status}`);
      const d = await waitFinished(app, tokens.admin, await promote(app, tokens.deployer, "canary", to, "fault suite: space is back"));
      check(d.status === "succeeded", `the promotion after space returned ended ${d.status}: ${d.error}`);
      figures.push("space back: freeze, unfreeze and a promotion succeed");

      // Full in the middle of a running promotion: the runner's writes fail; nothing is half-recorded.
      const { to: next } = await otherVersion(suite, suite.hosts.slice(0, 10));
      await setRepositoryMode(suite.sb, "slow", { delayMs: 1500 });
      let id: number;
      try {
        id = await promote(app, tokens.admin, "beta", next, "fault suite: disk fills mid-run", { override: true });
        await until("the promotion to be running", 30_000, async () => ((await deployment(app, tokens.admin, id)).counts.running ?? 0) > 0);
        truncateWal(app);
        fill(volume);
        await sleep(8000);
      } finally {
        unfill(volume);
        await setRepositoryMode(suite.sb, "up");
      }
      const end = await until("the promotion to end or be marked interrupted after space returned", 90_000, async () => {
        const v = await deployment(app, tokens.admin, id);
        return ACTIVE.includes(v.status) ? undefined : v;
      }, 1000);
      assertConsistent(app);
      check(count(app, "SELECT count(*) AS n FROM HostLock") === 0, "host locks remain after the run ended");
      await assertChainVerifies(app, tokens.admin);
      figures.push(`disk full mid-run: deployment ended ${end.status} (${end.counts.succeeded ?? 0} succeeded, ${end.counts.interrupted ?? 0} interrupted), locks free, chain verifies`);
      log(figures.join("; "));
      return figures;
    } finally {
      unfill(volume);
      await closeTight(app, volume);
    }
  },
};

const lockedDatabase: Scenario = {
  id: "4b",
  title: "another writer holds the database: a clear 503, then it works again",
  async run(suite) {
    const { app, tokens } = suite;
    const holder = new Database(app.databaseUrl.replace(/^file:/, ""));
    const events = count(app, "SELECT count(*) AS n FROM AuditEvent");
    let r;
    const t0 = Date.now();
    try {
      holder.exec("BEGIN EXCLUSIVE");
      r = await app.post("/api/channels/canary/freeze", tokens.admin, { reason: "fault suite: locked database" });
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    const waited = (Date.now() - t0) / 1000;
    check(r.status === 503, `freeze with the database held answered ${r.status}: ${r.text.slice(0, 200)}`);
    check(/busy/i.test(r.json?.error?.message ?? ""), `unclear error for a held database: ${r.text.slice(0, 200)}`);
    check(count(app, "SELECT count(*) AS n FROM AuditEvent") === events, "an audit event was written while the database was held");
    const again = await app.post("/api/channels/canary/freeze", tokens.admin, { reason: "fault suite: lock released" });
    check(again.status === 200, `freeze after the lock was released answered ${again.status}`);
    check(count(app, "SELECT count(*) AS n FROM Channel WHERE name = 'canary' AND frozenAt IS NOT NULL") === 1, "canary is not frozen after a freeze answered 200");
    const thaw = await app.post("/api/channels/canary/unfreeze", tokens.admin);
    check(thaw.status === 200, `unfreeze answered ${thaw.status}`);
    return [`held: 503 after ${waited.toFixed(1)} s ("${String(r.json.error.message).slice(0, 50)}…")`, "released: freeze and unfreeze succeed"];
  },
};

export const STORAGE: Scenario[] = [diskFull, lockedDatabase];
