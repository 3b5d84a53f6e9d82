// Start-up time and memory of the sandbox at several sizes, plus the checks that make the numbers
// mean something: every host answers the real version command over OpenSSH, the repository
// survives every host running apt-get update at once, and down leaves nothing behind.
//   npx tsx --conditions=react-server bench/sandbox-startup.ts [--sizes 10,50,200] [--verify 50] [--storm 200]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { hostEnv } from "../e2e/sandbox/host";
import { down, sandboxProcesses, sshCommand, up, type Sandbox } from "../e2e/sandbox/index";
import { isAlive, mapLimit, probeTcp, pssKb, readCmdline, rssKb, run } from "../e2e/sandbox/util";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sizes = flag("sizes", "10,50,200").split(",").map(Number);
const verifyAt = new Set(flag("verify", "50").split(",").map(Number));
const stormAt = new Set(flag("storm", "200").split(",").map(Number));

const mb = (kb: number) => (kb / 1024).toFixed(0);

async function verifyAll(sb: Sandbox, expected: string): Promise<string> {
  const command = "dpkg-query -W -f='${Version}' scap";
  const started = Date.now();
  const results = await mapLimit(sb.hosts, 10, async (h) => {
    const r = await sshCommand(sb, h.name, command);
    return r.code === 0 && r.stdout === expected ? null : `${h.name}: exit ${r.code} ${JSON.stringify(r.stdout)} ${r.stderr.trim()}`;
  });
  const bad = results.filter(Boolean);
  if (bad.length) throw new Error(`version check failed on ${bad.length} hosts:\n${bad.slice(0, 5).join("\n")}`);
  return `all ${sb.hosts.length} hosts answered ${expected} over OpenSSH in ${((Date.now() - started) / 1000).toFixed(1)} s`;
}

/** Every host fetches the whole index at the same moment (lists dropped first, so no 304s). */
async function aptStorm(sb: Sandbox): Promise<string> {
  for (const h of sb.hosts) {
    const lists = path.join(h.root, "var/lib/apt/lists");
    for (const f of fs.readdirSync(lists)) if (f.startsWith("127.0.0.1")) fs.rmSync(path.join(lists, f));
  }
  const started = Date.now();
  const results = await Promise.all(
    sb.hosts.map((h) => run("apt-get", ["update", "-q", "--error-on=any"], { env: hostEnv(h.root), allowFail: true, timeoutMs: 300_000 })),
  );
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length) throw new Error(`${failed.length} of ${sb.hosts.length} apt-get update runs failed: ${failed[0]!.stderr.trim()}`);
  return `${sb.hosts.length} concurrent apt-get update (full index download) all exit 0 in ${((Date.now() - started) / 1000).toFixed(1)} s`;
}

async function main() {
  const rows: string[] = [];
  for (const n of sizes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `scap-bench-${n}-`));
    try {
      const started = Date.now();
      const sb = await up({ hosts: n, dir });
      const seconds = (Date.now() - started) / 1000;
      const procs = await sandboxProcesses(sb);
      let rss = 0;
      let pss = 0;
      let sshdRss = 0;
      let serverRss = 0;
      for (const p of procs) {
        const r = rssKb(p.pid);
        rss += r;
        pss += pssKb(p.pid);
        if (readCmdline(p.pid).some((a) => a.endsWith("repo-server.ts"))) serverRss += r;
        else sshdRss += r;
      }
      console.log(`${n} hosts: up in ${seconds.toFixed(1)} s; ${procs.length} processes; RSS ${mb(rss)} MB (sshd ${mb(sshdRss)}, repo server ${mb(serverRss)}); PSS ${mb(pss)} MB`);
      if (verifyAt.has(n)) console.log(`  ${await verifyAll(sb, sb.versions[Math.floor((sb.versions.length - 1) / 2)]!)}`);
      if (stormAt.has(n)) console.log(`  ${await aptStorm(sb)}`);
      const downStarted = Date.now();
      await down(dir);
      const downSeconds = (Date.now() - downStarted) / 1000;
      const alive = procs.filter(isAlive).length;
      const listening = (await mapLimit(sb.hosts, 32, async (h) => (await probeTcp(h.address, h.port, 500)) !== "refused")).filter(Boolean).length;
      const repo = await probeTcp("127.0.0.1", Number(new URL(sb.repoUrl).port), 500);
      console.log(`  down in ${downSeconds.toFixed(1)} s: ${alive} processes left, ${listening} host addresses still accepting, repository port ${repo}`);
      if (alive || listening || repo !== "refused") process.exitCode = 1;
      rows.push(`| ${n} | ${seconds.toFixed(1)} s | ${procs.length} | ${mb(rss)} MB | ${mb(sshdRss)} MB | ${mb(serverRss)} MB | ${mb(pss)} MB |`);
    } finally {
      await down(dir).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log("\n| hosts | up | processes | RSS sum | sshd RSS | server RSS | PSS sum |\n|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
