// Repository reader benchmark: a ~50 MB, 60,000-stanza Packages index served plain, gzip and xz
// from a gpg-signed repository on 127.0.0.1, read by readRepository (InRelease + signature,
// download + size/SHA256 check + decompression + deb822 scan). Each run is a fresh child process
// so its peak RSS is its own.
//
//   npx tsx --conditions=react-server bench/apt-index.ts [--stanzas 60000] [--mb 50] [--runs 3]
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { repositorySchema } from "../lib/config-schema";
import { readRepository } from "../lib/apt/repository";
import { createSignedRepo } from "../lib/apt/testing/signed-repo";

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), "..");

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

interface ChildResult {
  /** First read in a fresh process (module initialisation, WASM and crypto set-up included). */
  ms: number;
  /** A second, full read in the same process. */
  warmMs: number;
  builds: number;
  baseRssMb: number;
  peakRssMb: number;
  sampledPeakRssMb: number;
  indexUrl: string | null;
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

/** One read in this process; prints its figures as JSON for the parent. */
async function child(url: string, keyring: string): Promise<void> {
  const config = repositorySchema.parse({ url, keyring, timeoutSeconds: 120 });
  const baseRssMb = mb(process.memoryUsage().rss);
  let sampled = 0;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }, 5);
  const t0 = performance.now();
  const r = await readRepository(config);
  const ms = performance.now() - t0;
  const t1 = performance.now();
  await readRepository(config);
  const warmMs = performance.now() - t1;
  clearInterval(sampler);
  sampled = Math.max(sampled, process.memoryUsage().rss);
  const result: ChildResult = {
    ms: Math.round(ms),
    warmMs: Math.round(warmMs),
    builds: r.builds.length,
    baseRssMb,
    // getrusage's ru_maxrss: the true peak, including moments the sampler could not see.
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10,
    sampledPeakRssMb: mb(sampled),
    indexUrl: r.indexUrl,
  };
  process.stdout.write(JSON.stringify(result));
}

// Asynchronous: the repository's HTTP server runs in this process and must keep answering.
function runChild(url: string, keyring: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", SELF, "--child", url, keyring], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    c.stdout.on("data", (b: Buffer) => (out += b.toString()));
    c.stderr.on("data", (b: Buffer) => (err += b.toString()));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as ChildResult) : reject(new Error(`benchmark child failed (${code}):\n${err}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const childAt = process.argv.indexOf("--child");
  if (childAt >= 0) return child(process.argv[childAt + 1]!, process.argv[childAt + 2]!);

  const stanzas = arg("stanzas", 60_000);
  const targetBytes = arg("mb", 50) * 1_000_000;
  const runs = arg("runs", 3);
  const builds = [
    { package: "scap", version: "4.79.0-1+0~20261101080000.3~1.gbp000aaa" },
    { package: "scap", version: "4.80.0-1+0~20261120093000.1~1.gbpabc123" },
    { package: "scap", version: "4.81.0-1+0~20261124120000.7~1.gbpdef456" },
  ];
  const fx = await createSignedRepo();
  try {
    console.log(`apt index benchmark: ${stanzas} stanzas (~${targetBytes / 1e6} MB) with ${builds.length} scap stanzas, ${runs} run(s) each, node ${process.version}`);
    console.log("compression  index file  cold read (median)  warm read (median)  peak RSS   RSS before read  builds");
    for (const compression of ["none", "gz", "xz"] as const) {
      const t0 = performance.now();
      fx.publish({ builds, filler: stanzas - builds.length, targetBytes, compressions: [compression] });
      const setupMs = performance.now() - t0;
      const name = compression === "none" ? "Packages" : `Packages.${compression}`;
      const size = statSync(path.join(fx.root, "dists/beta/main/binary-amd64", name)).size;
      const results: ChildResult[] = [];
      for (let i = 0; i < runs; i++) results.push(await runChild(fx.url, fx.keys.a.armoredPath));
      const peak = Math.max(...results.map((r) => r.peakRssMb));
      const base = median(results.map((r) => r.baseRssMb));
      console.log(
        [
          compression.padEnd(12),
          `${mb(size)} MB`.padEnd(11),
          `${median(results.map((r) => r.ms))} ms`.padEnd(19),
          `${median(results.map((r) => r.warmMs))} ms`.padEnd(19),
          `${peak} MB`.padEnd(10),
          `${base} MB`.padEnd(16),
          `${results[0]!.builds}   (publish ${Math.round(setupMs)} ms)`,
        ].join(" "),
      );
    }
    console.log("read = InRelease + signature + download + size/SHA256 + decompress + deb822 scan, over HTTP on 127.0.0.1.");
    console.log("peak RSS = getrusage max RSS of the reading process over both reads; RSS before read = after imports (node, tsx, openpgp).");
  } finally {
    await fx.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
