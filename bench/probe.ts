// Row 1 — fleet refresh: the server's own code path (probeHosts: inventory sync, one new SSH
// connection per host running the version command, observations and audit event in the DB)
// against parallel-ssh running the same command on the same sandbox hosts with the same
// parallelism. Also a whole refresh in a fresh process. Prints figures; asserts nothing.
//
//   npx tsx --conditions=react-server bench/probe.ts --hosts 10,50,200 [--runs 5] [--dir DIR]
//
// Without --dir one sandbox with the largest size is started (and stopped at the end); each size
// uses its first N hosts. With --dir a running sandbox is reused.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { down, load, up, type Sandbox } from "../e2e/sandbox";
import { readConfigFile, type AppConfig } from "../lib/config";
import { renderCommand } from "../lib/shell";
import { onCleanup, runCleanups } from "./lib/cleanup";
import { benchDatabase } from "./lib/database";
import { median, type Figure } from "./lib/figures";
import { psshRun, writeHostsFile } from "./lib/pssh";
import { printFigures } from "./lib/report";

const CHILD_FLAG = "--child-run";
const SELF = fileURLToPath(import.meta.url);

export interface RefreshOptions {
  sizes: number[];
  rounds: number;
  log: (line: string) => void;
  /** A running sandbox with at least max(sizes) hosts; without it one is started and stopped. */
  sandbox?: Sandbox;
}

export function configFor(sb: Sandbox, n: number): AppConfig {
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

/** One refresh with the app's transport over new connections; resolves to [ms, hosts answered, first error]. */
async function transportRefresh(config: AppConfig): Promise<[number, number, string | null]> {
  const { createFleetTransport } = await import("../lib/fleet/ssh");
  const t = createFleetTransport(config.ssh);
  const command = versionCommand(config);
  let error: string | null = null;
  const t0 = performance.now();
  const results = await Promise.all(
    config.hosts.map((h) =>
      t.exec(h, command, { fresh: true }).then(
        (r) => r.exitCode === 0 || ((error ??= `${h.name}: exit ${r.exitCode}`), false),
        (e: unknown) => ((error ??= `${h.name}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`), false),
      ),
    ),
  );
  const ms = performance.now() - t0;
  await t.close();
  return [ms, results.filter(Boolean).length, error];
}

/** A whole refresh in a new `tsx` process: Node start, module load, connections, exit. */
function freshProcessRefresh(configFile: string): Promise<[number, number, string | null]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const tsx = path.join(path.dirname(SELF), "..", "node_modules", ".bin", "tsx");
    const child = spawn(tsx, ["--conditions=react-server", SELF, CHILD_FLAG, configFile], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) return reject(new Error(`refresh child exited ${code}`));
      const r = JSON.parse(out) as { ok: number; error?: string | null };
      resolve([ms, r.ok, r.error ?? null]);
    });
  });
}

async function probeRefresh(config: AppConfig): Promise<[number, number]> {
  const { probeHosts } = await import("../lib/fleet/probe");
  const { SYSTEM_ACTOR } = await import("../lib/audit/log");
  const t0 = performance.now();
  const run = await probeHosts(config, SYSTEM_ACTOR);
  return [performance.now() - t0, run.counts.ok];
}

/** Row 1 figures: for each size, probeHosts and a fresh process, each against parallel-ssh. */
export async function refreshFigures(opts: RefreshOptions): Promise<Figure[]> {
  const { sizes, rounds, log } = opts;
  const work = mkdtempSync(path.join(os.tmpdir(), "scap-bench-probe-"));
  const removeWork = onCleanup(() => rmSync(work, { recursive: true, force: true }));
  let sb = opts.sandbox;
  let stopSandbox: (() => Promise<void>) | null = null;
  let seeded = "";
  const figures: Figure[] = [];
  try {
    if (!sb) {
      const dir = path.join(work, "sandbox");
      stopSandbox = onCleanup(() => down(dir));
      const t0 = performance.now();
      sb = await up({ hosts: Math.max(...sizes), dir });
      seeded = `sandbox of ${sb.hosts.length} hosts up in ${((performance.now() - t0) / 1000).toFixed(1)} s; `;
      log(`refresh: ${seeded}`);
    }
    benchDatabase();
    const { closeFleetTransport } = await import("../lib/fleet/ssh");
    onCleanup(() => closeFleetTransport());
    for (const n of sizes) {
      if (n > sb.hosts.length) throw new Error(`refresh: the sandbox has ${sb.hosts.length} hosts, ${n} asked`);
      const config = configFor(sb, n);
      const configFile = path.join(work, `config-${n}.yaml`);
      // JSON is YAML: readConfigFile takes it as it is.
      writeFileSync(configFile, JSON.stringify(config));
      const hostsFile = writeHostsFile(path.join(work, `hosts-${n}`), config);
      const command = versionCommand(config);
      const ms: Record<"probe" | "process" | "pssh", number[]> = { probe: [], process: [], pssh: [] };
      const answered: Record<string, number> = {};
      const errors: Record<string, string> = {};
      const note = (k: keyof typeof ms, [t, ok, error]: [number, number, (string | null)?]) => {
        ms[k].push(t);
        answered[k] = Math.min(answered[k] ?? n, ok);
        if (error && !errors[k]) errors[k] = error;
      };
      // Seeding: the inventory and a first observation through the app's own writer (probeHosts).
      const s0 = performance.now();
      await probeRefresh(config);
      await transportRefresh(config);
      const seedMs = performance.now() - s0;
      for (let i = 0; i < rounds; i++) {
        // Interleaved, so background load on the shared machine hits every column alike.
        note("probe", await probeRefresh(config));
        note("process", await freshProcessRefresh(configFile));
        note("pssh", await psshRun(sb, config, hostsFile, command, 60));
        log(`refresh ${n} hosts, round ${i + 1}/${rounds}: probeHosts ${(ms.probe.at(-1)! / 1000).toFixed(2)} s, fresh process ${(ms.process.at(-1)! / 1000).toFixed(2)} s, parallel-ssh ${(ms.pssh.at(-1)! / 1000).toFixed(2)} s`);
      }
      const short = (k: string) => (answered[k] === n ? "" : ` ${k}: only ${answered[k]}/${n} hosts answered in some round${errors[k] ? ` (first error: ${errors[k]})` : ""}.`);
      const peer = { name: "parallel-ssh", values: ms.pssh.map((v) => v / 1000), unit: "s" as const };
      const ratio = median(ms.probe) / median(ms.pssh);
      const judged = n >= 50;
      figures.push({
        id: `1 refresh ${n} hosts`,
        what: `version refresh of ${n} hosts inside the server (probeHosts: new connection per host, observations + audit event written)`,
        ours: { values: ms.probe.map((v) => v / 1000), unit: "s" },
        peer,
        goal: judged ? "≤ 0.25× parallel-ssh" : "≤ 0.25× at 50 and 200 (reported only)",
        ratio,
        met: judged ? ratio <= 0.25 : null,
        note: `${figures.length === 0 ? seeded : ""}inventory + first probe ${(seedMs / 1000).toFixed(1)} s; concurrency ${n} for both.${short("probe")}${short("pssh")}`.trim(),
      });
      figures.push({
        id: `1 refresh ${n} hosts, fresh process`,
        what: `the same refresh as a new tsx process (Node start, module load, connections, exit), like a cron job`,
        ours: { values: ms.process.map((v) => v / 1000), unit: "s" },
        peer,
        goal: "— (reported)",
        ratio: median(ms.process) / median(ms.pssh),
        met: null,
        note: short("process").trim() || undefined,
      });
    }
    return figures;
  } finally {
    if (stopSandbox) await stopSandbox();
    await removeWork();
  }
}

async function child(configFile: string) {
  const config = readConfigFile(configFile);
  const [, ok, error] = await transportRefresh(config);
  if (error) console.error(`fresh-process refresh: ${ok}/${config.hosts.length} answered; first error: ${error}`);
  process.stdout.write(JSON.stringify({ ok, error }));
}

async function main() {
  const { values } = parseArgs({
    options: { hosts: { type: "string", default: "10,50,200" }, runs: { type: "string", default: "5" }, dir: { type: "string" } },
  });
  const sizes = values.hosts.split(",").map((s) => Number(s.trim()));
  const rounds = Number(values.runs);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(rounds) || rounds < 1) throw new Error("--hosts takes sizes like 10,50,200; --runs a count");
  const sandbox = values.dir === undefined ? undefined : await load(values.dir);
  try {
    printFigures(await refreshFigures({ sizes, rounds, log: console.error, sandbox }));
  } finally {
    await runCleanups();
  }
}

if (process.argv[2] === CHILD_FLAG) {
  child(process.argv[3]!).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
