// Promotion wall time: the deployment runner (plan, .deb check, lock, install, version read-back,
// records) against parallel-ssh running the same install command on the same sandbox hosts.
// Prints figures; asserts nothing.
//
//   npx tsx --conditions=react-server bench/promote.ts --hosts 10,50 [--runs 5]
//
// One sandbox with the largest size is started and stopped at the end; each size uses its first N
// hosts, all in one batch (batchSize = N, concurrency = N). Every run moves every host to the other
// of two versions, so both tools always change N hosts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { down, installedVersion, up, type Sandbox } from "../e2e/sandbox";
import { readConfigFile, type AppConfig } from "../lib/config";
import { renderCommand } from "../lib/shell";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function configFor(sb: Sandbox, n: number): AppConfig {
  const config = readConfigFile(sb.configPath);
  return {
    ...config,
    ssh: { ...config.ssh, concurrency: n },
    hosts: config.hosts.slice(0, n),
    channels: [{ name: "beta", hosts: "all", batchSize: n, maxFailures: n, onBakeFailure: "stay" }],
  };
}

function psshInstall(sb: Sandbox, config: AppConfig, hostsFile: string, version: string): [number, number] {
  const command = renderCommand(config.commands.install, { package: config.repository.package, version });
  const t0 = performance.now();
  let out = "";
  try {
    out = execFileSync(
      "parallel-ssh",
      [
        "-h", hostsFile,
        "-l", config.ssh.user,
        "-x", `-i ${sb.privateKeyPath} -o UserKnownHostsFile=${sb.knownHostsPath} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=${config.ssh.connectTimeoutSeconds}`,
        "-p", String(config.hosts.length),
        "-t", String(config.ssh.commandTimeoutSeconds),
        command,
      ],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? "");
  }
  return [performance.now() - t0, (out.match(/\[SUCCESS\]/g) ?? []).length];
}

async function main() {
  const { values } = parseArgs({ options: { hosts: { type: "string", default: "10,50" }, runs: { type: "string", default: "5" } } });
  const sizes = values.hosts.split(",").map((s) => Number(s.trim()));
  const runs = Number(values.runs);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1) throw new Error("--hosts takes sizes like 10,50; --runs a count");
  const work = mkdtempSync(path.join(os.tmpdir(), "scap-bench-promote-"));
  const sbDir = path.join(work, "sandbox");
  const t0 = performance.now();
  const sb = await up({ hosts: Math.max(...sizes), dir: sbDir });
  console.error(`sandbox with ${sb.hosts.length} hosts up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const file = path.join(work, "bench.db");
  execFileSync("npx", ["prisma", "migrate", "deploy"], { env: { ...process.env, DATABASE_URL: `file:${file}` }, stdio: "ignore" });
  process.env.DATABASE_URL = `file:${file}`;

  const { SYSTEM_ACTOR } = await import("../lib/audit/log");
  const { refreshBuilds } = await import("../lib/apt/refresh");
  const { syncInventory } = await import("../lib/fleet/inventory");
  const { probeHosts } = await import("../lib/fleet/probe");
  const { promoteBuild } = await import("../lib/deploy/promote");
  const { waitForRunner } = await import("../lib/deploy/run");
  const { getDeployment } = await import("../lib/deploy/queries");
  const { closeFleetTransport } = await import("../lib/fleet/ssh");

  const [a, b] = [sb.versions[0]!, sb.versions[sb.versions.length - 1]!];
  const rows: string[][] = [];
  try {
    for (const n of sizes) {
      const config = configFor(sb, n);
      const hostsFile = path.join(work, `hosts-${n}`);
      writeFileSync(hostsFile, config.hosts.map((h) => h.address ?? h.name).join("\n") + "\n");
      await syncInventory(config);
      await refreshBuilds(config.repository, SYSTEM_ACTOR);
      const ours: number[] = [];
      const peer: number[] = [];
      let oursOk = n;
      let peerOk = n;
      // Start from a: pssh puts every host there.
      psshInstall(sb, config, hostsFile, a);
      for (let i = 0; i < runs; i++) {
        await probeHosts(config, SYSTEM_ACTOR);
        const t1 = performance.now();
        const started = await promoteBuild(config, SYSTEM_ACTOR, "beta", { version: b, reason: `bench run ${i + 1}` });
        await waitForRunner(started.id);
        ours.push(performance.now() - t1);
        const d = await getDeployment(started.id);
        oursOk = Math.min(oursOk, d?.counts.succeeded ?? 0);
        const [ms, ok] = psshInstall(sb, config, hostsFile, a);
        peer.push(ms);
        peerOk = Math.min(peerOk, ok);
        console.error(`${n} hosts, run ${i + 1}/${runs}: runner ${(ours.at(-1)! / 1000).toFixed(2)} s, parallel-ssh ${(ms / 1000).toFixed(2)} s`);
      }
      const wrong = (await Promise.all(config.hosts.map((h) => installedVersion(sb, h.name)))).filter((v) => v !== a).length;
      const s = (xs: number[], ok: number) => `${(median(xs) / 1000).toFixed(2)} s (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})${ok === n ? "" : ` (${ok}/${n} ok)`}`;
      rows.push([String(n), s(ours, oursOk), s(peer, peerOk), `${(median(ours) / median(peer)).toFixed(2)}x`, wrong === 0 ? "yes" : `${wrong} host(s) not on ${a}`]);
    }
  } finally {
    await closeFleetTransport();
    await down(sbDir);
    rmSync(work, { recursive: true, force: true });
  }
  const header = ["hosts", "runner: promote → all verified", "parallel-ssh: install", "runner / pssh", "hosts on the version after"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(`Median (min–max) of ${runs} runs, ${os.cpus().length} cores; one batch, concurrency = hosts for both tools; goal ≤ 1.1x.`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
