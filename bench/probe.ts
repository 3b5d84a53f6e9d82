// Fleet refresh timings: this app's SSH transport against parallel-ssh (OpenSSH) on the same
// sandbox hosts and the same version command. Prints figures; asserts nothing.
//
//   npx tsx --conditions=react-server bench/probe.ts --hosts 10,50,200 [--runs 5] [--dir DIR]
//
// Without --dir one sandbox with the largest size is started (and stopped at the end); each size
// uses its first N hosts. With --dir a running sandbox is reused.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { down, load, up, type Sandbox } from "../e2e/sandbox";
import { readConfigFile, type AppConfig } from "../lib/config";
import { renderCommand } from "../lib/shell";

const CHILD_FLAG = "--child-run";
const SELF = fileURLToPath(import.meta.url);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function configFor(sb: Sandbox, n: number): AppConfig {
  const config = readConfigFile(sb.configPath);
  const hosts = config.hosts.slice(0, n);
  const names = new Set(hosts.map((h) => h.name));
  return {
    ...config,
    ssh: { ...config.ssh, concurrency: n },
    hosts,
    channels: config.channels
      .map((c) => (c.hosts === "all" ? c : { ...c, hosts: c.hosts.filter((h) => names.has(h)) }))
      .filter((c) => c.hosts === "all" || c.hosts.length > 0)
      .map((c) => (c.requires && !config.channels.some((o) => o.name === c.requires) ? { ...c, requires: undefined } : c)),
  };
}

function versionCommand(config: AppConfig): string {
  return renderCommand(config.commands.version, { package: config.repository.package });
}

/** One refresh over fresh connections in this process; resolves to [ms, hosts answered]. */
async function transportRefresh(config: AppConfig, transport?: import("../lib/fleet/ssh").FleetTransport, fresh = true): Promise<[number, number]> {
  const { createFleetTransport } = await import("../lib/fleet/ssh");
  const t = transport ?? createFleetTransport(config.ssh);
  const command = versionCommand(config);
  const t0 = performance.now();
  const results = await Promise.all(config.hosts.map((h) => t.exec(h, command, { fresh }).then((r) => r.exitCode === 0, () => false)));
  const ms = performance.now() - t0;
  if (!transport) await t.close();
  return [ms, results.filter(Boolean).length];
}

/** A whole refresh in a new `tsx` process: Node start, module load, connections, exit. */
function freshProcessRefresh(configFile: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const tsx = path.join(path.dirname(SELF), "..", "node_modules", ".bin", "tsx");
    const child = spawn(tsx, ["--conditions=react-server", SELF, CHILD_FLAG, configFile], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) return reject(new Error(`child exited ${code}`));
      resolve([ms, JSON.parse(out).ok as number]);
    });
  });
}

function psshRefresh(sb: Sandbox, config: AppConfig, hostsFile: string): [number, number] {
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
        "-t", "60",
        "-i",
        versionCommand(config),
      ],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
  } catch (e) {
    // parallel-ssh exits non-zero when any host failed; its output still counts.
    out = String((e as { stdout?: string }).stdout ?? "");
  }
  return [performance.now() - t0, (out.match(/\[SUCCESS\]/g) ?? []).length];
}

async function probeRefresh(config: AppConfig): Promise<[number, number]> {
  const { probeHosts } = await import("../lib/fleet/probe");
  const { SYSTEM_ACTOR } = await import("../lib/audit/log");
  const t0 = performance.now();
  const run = await probeHosts(config, SYSTEM_ACTOR);
  return [performance.now() - t0, run.counts.ok];
}

function migratedDatabase(dir: string): string {
  const file = path.join(dir, "bench.db");
  execFileSync("npx", ["prisma", "migrate", "deploy"], { env: { ...process.env, DATABASE_URL: `file:${file}` }, stdio: "ignore" });
  return `file:${file}`;
}

async function child(configFile: string) {
  const config = readConfigFile(configFile);
  const [, ok] = await transportRefresh(config);
  process.stdout.write(JSON.stringify({ ok }));
}

async function main() {
  const { values } = parseArgs({
    options: { hosts: { type: "string", default: "10,50,200" }, runs: { type: "string", default: "5" }, dir: { type: "string" } },
  });
  const sizes = values.hosts.split(",").map((s) => Number(s.trim()));
  const runs = Number(values.runs);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(runs) || runs < 1) throw new Error("--hosts takes sizes like 10,50,200; --runs a count");
  const work = mkdtempSync(path.join(os.tmpdir(), "scap-bench-probe-"));
  const ownSandbox = values.dir === undefined;
  const sbDir = values.dir ?? path.join(work, "sandbox");
  let sb: Sandbox;
  if (ownSandbox) {
    const t0 = performance.now();
    sb = await up({ hosts: Math.max(...sizes), dir: sbDir });
    console.error(`sandbox with ${sb.hosts.length} hosts up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    sb = await load(sbDir);
  }
  process.env.DATABASE_URL = migratedDatabase(work);

  const rows: string[][] = [];
  try {
    for (const n of sizes) {
      if (n > sb.hosts.length) {
        console.error(`skipping ${n}: the sandbox has ${sb.hosts.length} hosts`);
        continue;
      }
      const config = configFor(sb, n);
      const configFile = path.join(work, `config-${n}.yaml`);
      // JSON is YAML: readConfigFile takes it as it is.
      writeFileSync(configFile, JSON.stringify(config));
      const hostsFile = path.join(work, `hosts-${n}`);
      writeFileSync(hostsFile, config.hosts.map((h) => h.address ?? h.name).join("\n") + "\n");

      const { createFleetTransport } = await import("../lib/fleet/ssh");
      const figures: Record<string, number[]> = { cold: [], warm: [], probe: [], process: [], pssh: [] };
      const answered: Record<string, number> = {};
      const note = (k: string, [ms, ok]: [number, number]) => {
        figures[k]!.push(ms);
        answered[k] = Math.min(answered[k] ?? n, ok);
      };
      const kept = createFleetTransport(config.ssh, { idleMs: 600_000 });
      await transportRefresh(config, kept, false);
      for (let i = 0; i < runs; i++) {
        // Interleaved, so background load on the shared machine hits every column alike.
        note("cold", await transportRefresh(config));
        note("warm", await transportRefresh(config, kept, false));
        note("probe", await probeRefresh(config));
        note("process", await freshProcessRefresh(configFile));
        note("pssh", psshRefresh(sb, config, hostsFile));
        console.error(`${n} hosts, run ${i + 1}/${runs} done`);
      }
      await kept.close();
      const s = (k: string) => `${(median(figures[k]!) / 1000).toFixed(2)} s${answered[k] === n ? "" : ` (${answered[k]}/${n} ok)`}`;
      rows.push([
        String(n),
        s("cold"),
        s("warm"),
        s("probe"),
        s("process"),
        s("pssh"),
        `${(median(figures.cold!) / median(figures.pssh!)).toFixed(2)}x`,
        `${(median(figures.process!) / median(figures.pssh!)).toFixed(2)}x`,
      ]);
    }
  } finally {
    const { closeFleetTransport } = await import("../lib/fleet/ssh");
    await closeFleetTransport();
    if (ownSandbox) await down(sbDir);
    rmSync(work, { recursive: true, force: true });
  }

  const header = ["hosts", "transport, new connections", "transport, kept connections", "probeHosts (+DB)", "new tsx process", "parallel-ssh", "new conns / pssh", "process / pssh"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(`Median of ${runs} runs, ${os.cpus().length} cores; concurrency = hosts for both tools.`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

if (process.argv[2] === CHILD_FLAG) {
  child(process.argv[3]!).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
