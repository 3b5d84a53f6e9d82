// 3. Repository faults during a refresh: the last good build list is kept, the error is shown (API
// and page), the next good refresh recovers; a build whose .deb no longer verifies is refused before
// any host is touched.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { publishBuild, restoreRepository, tamperRepository, type RepositoryFault } from "../../e2e/sandbox";
import { changeConfig, check, count, freePort, readConfig, sleep, truth, writeConfig, type App } from "../harness";
import type { Scenario } from "../index";
import type { Suite } from "../suite";

async function buildVersions(app: App, token: string): Promise<string[]> {
  const r = await app.get("/api/builds", token);
  check(r.status === 200, `GET /api/builds answered ${r.status}`);
  return (r.json.builds as { version: string }[]).map((b) => b.version).sort();
}

function decodeHtml(s: string): string {
  return s.replace(/&#x27;|&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** Refreshes with the fault in place and checks that nothing of the last good state is lost and the error is shown. */
async function refusedRefresh(suite: Suite, cookie: string, expectKind: string, pattern: RegExp): Promise<string> {
  const { app, tokens } = suite;
  const before = await buildVersions(app, tokens.viewer);
  const r = await app.post("/api/builds/refresh", tokens.admin, { force: true });
  check(r.status === 200, `refresh answered ${r.status}: ${r.text.slice(0, 200)}`);
  const outcome = r.json.outcome as { ok: boolean; errorKind?: string; error?: string };
  check(!outcome.ok, `the refresh accepted a repository with the fault (${expectKind})`);
  check(outcome.errorKind === expectKind, `errorKind ${outcome.errorKind}, expected ${expectKind}: ${outcome.error}`);
  check(pattern.test(outcome.error ?? ""), `the error does not say ${pattern}: ${outcome.error}`);
  const after = await buildVersions(app, tokens.viewer);
  check(JSON.stringify(after) === JSON.stringify(before), `the build list changed: ${before.length} → ${after.length}`);
  const page = await app.request("GET", "/builds", { cookie });
  check(page.status === 200, `/builds answered ${page.status}`);
  const shown = decodeHtml(page.text);
  check(shown.includes((outcome.error ?? "").slice(0, 60)), `/builds does not show the error "${outcome.error?.slice(0, 60)}"`);
  return `${expectKind}: kept ${after.length} builds, error shown`;
}

async function goodRefresh(suite: Suite): Promise<void> {
  const r = await suite.app.post("/api/builds/refresh", suite.tokens.admin, { force: true });
  check(r.status === 200 && r.json.outcome.ok, `the refresh after the fault was put right failed: ${r.text.slice(0, 300)}`);
}

const TAMPERS: { fault: RepositoryFault; kind: string; says: RegExp }[] = [
  { fault: "bad-signature", kind: "bad-signature", says: /signature/i },
  { fault: "other-key", kind: "unknown-key", says: /key/i },
  { fault: "expired", kind: "expired", says: /expired|Valid-Until/i },
  { fault: "packages", kind: "hash-mismatch", says: /SHA256|hash|size/i },
  { fault: "truncated", kind: "hash-mismatch", says: /SHA256|hash|bytes|truncated/i },
];

const signedFaults: Scenario = {
  id: "3a",
  title: "bad signature, unknown key, expired Release, hash mismatch, truncated index",
  async run(suite) {
    const cookie = await suite.app.signIn("faults-viewer", "faults-viewer-password-1");
    const figures: string[] = [];
    for (const t of TAMPERS) {
      await tamperRepository(suite.sb, t.fault);
      try {
        figures.push(await refusedRefresh(suite, cookie, t.kind, t.says));
      } finally {
        await restoreRepository(suite.sb);
      }
      await goodRefresh(suite);
    }
    return figures;
  },
};

const replay: Scenario = {
  id: "3b",
  title: "a replayed older (validly signed) Release is refused",
  async run(suite) {
    const dists = path.join(suite.sb.dir, "repo", "dists");
    const saved = path.join(suite.dir, "dists-older");
    rmSync(saved, { recursive: true, force: true });
    cpSync(dists, saved, { recursive: true });
    // A newer index is accepted first; Release dates have a resolution of one second.
    await sleep(1100);
    await publishBuild(suite.sb, "4.85.0-1+0~20261202110000.1~1.gbprep000");
    suite.versions.splice(0, suite.versions.length, ...suite.sb.versions);
    await goodRefresh(suite);
    const cookie = await suite.app.signIn("faults-viewer", "faults-viewer-password-1");
    cpSync(saved, dists, { recursive: true, force: true });
    try {
      return [await refusedRefresh(suite, cookie, "expired", /older than the Release already accepted|replay/i)];
    } finally {
      await restoreRepository(suite.sb);
      await goodRefresh(suite);
    }
  },
};

/** An HTTP server in front of the repository that sends every body a few bytes at a time. */
async function trickleProxy(upstream: string, bytesPerTick: number, tickMs: number): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    try {
      const r = await fetch(new URL(req.url!.replace(/^\//, ""), upstream));
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { "content-length": String(body.length), "content-type": r.headers.get("content-type") ?? "application/octet-stream" });
      for (let i = 0; i < body.length && !res.destroyed; i += bytesPerTick) {
        res.write(body.subarray(i, i + bytesPerTick));
        await sleep(tickMs);
      }
      res.end();
    } catch {
      res.destroy();
    }
  });
  const port = await freePort(3701, 3799);
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${port}/`, server };
}

const configFaults: Scenario = {
  id: "3c",
  title: "an index beyond the size cap; a server that trickles bytes",
  async run(suite) {
    const { app } = suite;
    const original = readConfig(app.configPath);
    const cookie = await app.signIn("faults-viewer", "faults-viewer-password-1");
    const figures: string[] = [];
    try {
      changeConfig(app, (c) => (c.repository.maxDownloadBytes = 600));
      figures.push(await refusedRefresh(suite, cookie, "too-large", /maxDownloadBytes|more than/i));
      writeConfig(app.configPath, original);
      await goodRefresh(suite);

      const proxy = await trickleProxy(suite.sb.repoUrl, 16, 250);
      try {
        changeConfig(app, (c) => {
          c.repository.url = proxy.url;
          c.repository.timeoutSeconds = 3;
        });
        const t0 = Date.now();
        figures.push(await refusedRefresh(suite, cookie, "unreachable", /within|timed out|stalled/i));
        figures.push(`trickle: gave up after ${((Date.now() - t0) / 1000).toFixed(1)} s (timeout 3 s)`);
      } finally {
        proxy.server.closeAllConnections();
        proxy.server.close();
      }
    } finally {
      writeConfig(app.configPath, original);
    }
    await goodRefresh(suite);
    return figures;
  },
};

function acceptedLogins(suite: Suite): number {
  const logs = path.join(suite.sb.dir, "logs");
  let n = 0;
  for (const f of readdirSync(logs)) if (f.endsWith(".sshd.log")) n += (readFileSync(path.join(logs, f), "utf8").match(/Accepted publickey/g) ?? []).length;
  return n;
}

const tamperedBeforeStart: Scenario = {
  id: "3d",
  title: "promoting a build whose .deb now fails verification is refused before any host is touched",
  async run(suite) {
    const { app, tokens, sb } = suite;
    const canary = suite.hosts[0]!;
    const before = await truth(sb, [canary]);
    const version = [...suite.versions].reverse().find((v) => v !== before.get(canary))!;
    await tamperRepository(sb, "deb", { version });
    try {
      const deployments = count(app, "SELECT count(*) AS n FROM Deployment");
      const logins = acceptedLogins(suite);
      const r = await app.post("/api/channels/canary/promote", tokens.deployer, { version, reason: "fault suite: tampered deb" });
      check(r.status >= 400 && r.status < 500, `promote of a tampered .deb answered ${r.status}: ${r.text.slice(0, 300)}`);
      const message = r.json?.error?.message as string;
      check(/sha256|size|\.deb/i.test(message ?? ""), `the refusal does not say what is wrong with the .deb: ${message}`);
      check(count(app, "SELECT count(*) AS n FROM Deployment") === deployments, "a deployment row was created for a refused promotion");
      check(acceptedLogins(suite) === logins, "a host was logged in to (sshd accepted a session) for a refused promotion");
      const after = await truth(sb, [canary]);
      check(after.get(canary) === before.get(canary), `${canary} changed to ${after.get(canary)}`);
      return [`refused ${r.status}: ${message.slice(0, 120)}`, "no deployment row, no SSH login"];
    } finally {
      await restoreRepository(sb);
      check(existsSync(sb.dir), "sandbox gone");
    }
  },
};

export const REPOSITORY: Scenario[] = [signedFaults, replay, configFaults, tamperedBeforeStart];
