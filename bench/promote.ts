// Row 2 — promotion wall time: the deployment runner end to end (plan, .deb check, lock, install,
// version read-back, records) against parallel-ssh running the same install command on the same
// sandbox hosts. Prints figures; asserts nothing.
//
//   npx tsx --conditions=react-server bench/promote.ts --hosts 10,50 [--runs 5] [--dir DIR]
//
// Without --dir one sandbox with the largest size is started and stopped at the end; with --dir a
// running sandbox is reused. Each size uses its first N hosts, all in one batch (batchSize = N,
// concurrency = N). Every round moves every host to the
// other of two versions, so both tools always change N hosts.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { down, installedVersion, load, up, type Sandbox } from "../e2e/sandbox";
import { readConfigFile, type AppConfig } from "../lib/config";
import { renderCommand } from "../lib/shell";
import { onCleanup, runCleanups } from "./lib/cleanup";
import { benchDatabase } from "./lib/database";
import { median, type Figure } from "./lib/figures";
import { psshRun, writeHostsFile } from "./lib/pssh";
import { printFigures } from "./lib/report";

const SELF = fileURLToPath(import.meta.url);

export interface PromoteOptions {
  sizes: number[];
  rounds: number;
  log: (line: string) => void;
  /** A running sandbox with at least max(sizes) hosts; without it one is started and stopped. */
  sandbox?: Sandbox;
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

/** Row 2 figures: for each size, a promotion through the runner against parallel-ssh's install. */
export async function promoteFigures(opts: PromoteOptions): Promise<Figure[]> {
  const { sizes, rounds, log } = opts;
  const work = mkdtempSync(path.join(os.tmpdir(), "scap-bench-promote-"));
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
      log(`promote: ${seeded}`);
    }
    benchDatabase();
    const { SYSTEM_ACTOR } = await import("../lib/audit/log");
    const { refreshBuilds } = await import("../lib/apt/refresh");
    const { syncInventory } = await import("../lib/fleet/inventory");
    const { probeHosts } = await import("../lib/fleet/probe");
    const { promoteBuild } = await import("../lib/deploy/promote");
    const { waitForRunner } = await import("../lib/deploy/run");
    const { getDeployment } = await import("../lib/deploy/queries");
    const { closeFleetTransport } = await import("../lib/fleet/ssh");
    onCleanup(() => closeFleetTransport());

    const [a, b] = [sb.versions[0]!, sb.versions[sb.versions.length - 1]!];
    for (const n of sizes) {
      if (n > sb.hosts.length) throw new Error(`promote: the sandbox has ${sb.hosts.length} hosts, ${n} asked`);
      const config = configFor(sb, n);
      const hostsFile = writeHostsFile(path.join(work, `hosts-${n}`), config);
      const install = (version: string) => renderCommand(config.commands.install, { package: config.repository.package, version });
      // Seeding through the app: inventory, the repository's builds, a first observation.
      const s0 = performance.now();
      await syncInventory(config);
      await refreshBuilds(config.repository, SYSTEM_ACTOR);
      const seedMs = performance.now() - s0;
      const ours: number[] = [];
      const peer: number[] = [];
      let oursOk = n;
      let peerOk = n;
      const failures = new Map<string, number>();
      // Start from a: parallel-ssh puts every host there.
      await psshRun(sb, config, hostsFile, install(a), config.ssh.commandTimeoutSeconds);
      for (let i = 0; i < rounds; i++) {
        // The runner plans from observations: the probe records that every host is on a.
        await probeHosts(config, SYSTEM_ACTOR);
        const t1 = performance.now();
        const started = await promoteBuild(config, SYSTEM_ACTOR, "beta", { version: b, reason: `bench round ${i + 1}` });
        await waitForRunner(started.id);
        ours.push(performance.now() - t1);
        const d = await getDeployment(started.id);
        oursOk = Math.min(oursOk, d?.counts.succeeded ?? 0);
        for (const t of d?.hosts ?? []) {
          if (t.status === "succeeded") continue;
          const why = `${t.status}${t.errorKind ? ` (${t.errorKind})` : ""}${t.error ? `: ${t.error.split("\n")[0]!.slice(0, 120)}` : ""}`;
          failures.set(why, (failures.get(why) ?? 0) + 1);
        }
        const [ms, ok] = await psshRun(sb, config, hostsFile, install(a), config.ssh.commandTimeoutSeconds);
        peer.push(ms);
        peerOk = Math.min(peerOk, ok);
        log(`promote ${n} hosts, round ${i + 1}/${rounds}: runner ${(ours.at(-1)! / 1000).toFixed(2)} s, parallel-ssh ${(ms / 1000).toFixed(2)} s`);
      }
      const box = sb;
      const wrong = (await Promise.all(config.hosts.map((h) => installedVersion(box, h.name)))).filter((v) => v !== a).length;
      const ratio = median(ours) / median(peer);
      const checks = [
        oursOk === n ? "" : `runner: only ${oursOk}/${n} hosts succeeded in some round (${[...failures].map(([why, c]) => `${c}× ${why}`).join("; ")}).`,
        peerOk === n ? "" : `parallel-ssh: only ${peerOk}/${n} hosts succeeded in some round.`,
        wrong === 0 ? `all ${n} hosts verified on the version after (dpkg-query).` : `${wrong} host(s) not on ${a} after the last round.`,
      ].filter(Boolean);
      figures.push({
        id: `2 promote ${n} hosts`,
        what: `promotion of ${n} hosts ${a.split("-")[0]} ↔ ${b.split("-")[0]}, one batch, through the runner incl. .deb check, lock and read-back`,
        ours: { values: ours.map((v) => v / 1000), unit: "s" },
        peer: { name: "parallel-ssh install", values: peer.map((v) => v / 1000), unit: "s" },
        goal: "≤ 1.1× parallel-ssh",
        ratio,
        met: oursOk === n ? ratio <= 1.1 : false,
        note: `${figures.length === 0 ? seeded : ""}inventory + builds seeded in ${(seedMs / 1000).toFixed(1)} s; ${checks.join(" ")}`,
      });
    }
    return figures;
  } finally {
    if (stopSandbox) await stopSandbox();
    await removeWork();
  }
}

async function main() {
  const { values } = parseArgs({ options: { hosts: { type: "string", default: "10,50" }, runs: { type: "string", default: "5" }, dir: { type: "string" } } });
  const sizes = values.hosts.split(",").map((s) => Number(s.trim()));
  const rounds = Number(values.runs);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(rounds) || rounds < 1) throw new Error("--hosts takes sizes like 10,50; --runs a count");
  const sandbox = values.dir === undefined ? undefined : await load(values.dir);
  try {
    printFigures(await promoteFigures({ sizes, rounds, log: console.error, sandbox }));
  } finally {
    await runCleanups();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
