// `npm run bench`: every headline figure against the tool a user would pick instead, in one
// invocation (issue 12), then one table on stdout and BENCHMARKS.md (and the README's table).
//
//   npm run bench                    full run: rows 1–7, at least 5 rounds each; writes BENCHMARKS.md
//   npm run bench -- --quick         N = 3, one round, small data (CI); prints only, unless --out
//   npm run bench -- --rows 1,3      only some rows (1, 2, 3, http = rows 4–7)
//   npm run bench -- --out FILE      where to write the report (full run: BENCHMARKS.md)
//   npm run bench -- --render FILE   no measuring: the report again from a run's saved figures
//                                    (every run saves them to $TMPDIR/scap-bench-last-run.json)
//
// Peers run in the same invocation on the same hosts or files, interleaved with ours round by
// round, so a ratio holds on any machine. Missed goals are reported, never fatal: only a crash
// fails the run. Everything started is stopped at the end, on failure and on Ctrl-C.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { down, up } from "../e2e/sandbox";
import { repositoryFigures } from "./apt-index";
import { cleanUpOnSignals, onCleanup, runCleanups } from "./lib/cleanup";
import type { Figure } from "./lib/figures";
import { machine, markdownTable, printFigures, verdict, type Machine } from "./lib/report";
import { refreshFigures } from "./probe";
import { promoteFigures } from "./promote";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ROWS = ["1", "2", "3", "http"] as const;
type Row = (typeof ROWS)[number];

/** Why a goal is missed, when it is: what the profile of that figure showed (see BENCHMARKS.md). */
const WHY: Record<string, string> = {
  "3 repository read, warm":
    "the read picks the package's stanzas on the raw bytes and decodes only those (lib/apt/deb822.ts, Deb822Selector) and hashes while it downloads; what is left per read is mostly SHA256 (about 45 ms of the 50 MB) and the HTTP transfer, which grep-dctrl reading the file from the page cache does not pay.",
  "3 repository read, warm vs grep-dctrl":
    "grep-dctrl alone neither hashes, verifies nor goes over HTTP; the read decodes only the package's stanzas (Deb822Selector), so what remains beyond grep-dctrl is SHA256 of the whole index and the transfer.",
  "2 promote":
    "the time is within the goal; the goal counts as missed because hosts failed their SSH handshake in some round (see the section above). Simultaneous handshakes are capped (ssh.maxHandshakes, default min(concurrency, 64)) and each one is timed from its turn, so this is the machine's load, not a queue of ours.",
  "1 refresh":
    "the refresh in the server is one Node thread doing every SSH handshake (ssh2, in JavaScript), parallel-ssh one OpenSSH process per host: with the load average above the core count our thread gets one share among many runnable processes while N ssh processes get N. Our process uses about 1.0-1.3 s of CPU in a refresh of 200 hosts; the rest is the sandbox's sshd work per connection, which parallel-ssh pays too. Each refresh opens a new connection per host (lib/fleet/probe.ts, fresh), so it pays a full handshake every time.",
};

/** Why hosts failed in a figure, when they did (see "Figures where hosts failed"). */
const PARTIAL_WHY: Record<string, string> = {
  "1 refresh 200 hosts":
    "The SSH handshake timed out for some hosts in at least one round on a machine loaded far above its core count, even with simultaneous handshakes capped (ssh.maxHandshakes) and each timed from its turn.",
  "1 refresh 200 hosts, fresh process":
    "A process that has just started connects to 200 hosts; on a loaded machine some handshakes did not finish within the sandbox's 5-s connect timeout in at least one round (capped at ssh.maxHandshakes at once, each timed from its turn).",
  "2 promote":
    "The failed targets and their errors are in the note; a promotion with failed hosts cannot meet the goal whatever its time.",
};

/** The entry for the longest key the figure's id starts with. */
const explain = (table: Record<string, string>, id: string) =>
  Object.entries(table)
    .filter(([k]) => id.startsWith(k))
    .sort((a, b) => b[0].length - a[0].length)[0]?.[1];

interface Section {
  label: string;
  figures: Figure[];
  ms: number;
  error?: string;
}

function parse() {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      rows: { type: "string", default: ROWS.join(",") },
      out: { type: "string" },
      rounds: { type: "string" },
      render: { type: "string" },
    },
  });
  const rows = values.rows.split(",").map((r) => r.trim()) as Row[];
  const unknown = rows.filter((r) => !ROWS.includes(r));
  if (unknown.length) throw new Error(`--rows takes ${ROWS.join(", ")}; not ${unknown.join(", ")}`);
  const rounds = values.rounds === undefined ? (values.quick ? 1 : 5) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds takes a count");
  const out = values.out ?? (values.quick ? null : path.join(ROOT, "BENCHMARKS.md"));
  return { quick: values.quick, rows: new Set(rows), rounds, out, render: values.render };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Highest 1-minute load average seen while the bench ran (sampled every 5 s). */
function watchLoad(): () => number {
  let peak = os.loadavg()[0]!;
  const t = setInterval(() => (peak = Math.max(peak, os.loadavg()[0]!)), 5000);
  t.unref();
  return () => {
    clearInterval(t);
    return Math.round(Math.max(peak, os.loadavg()[0]!) * 100) / 100;
  };
}

/** Everything a report is made from; saved after every run so it can be rendered again. */
interface Run {
  quick: boolean;
  rounds: number;
  /** Whether every row ran (only then does the README get the table). */
  allRows: boolean;
  start: Machine;
  endLoad: number[];
  peakLoad: number;
  totalMs: number;
  sections: Section[];
}

const LAST_RUN = path.join(os.tmpdir(), "scap-bench-last-run.json");

function report(opts: Run): string {
  const { start, sections } = opts;
  const figures = sections.flatMap((s) => s.figures);
  const loaded = opts.peakLoad > start.cores * 0.75 || start.load[0]! > start.cores * 0.5;
  const lines: string[] = [
    "# Benchmarks",
    "",
    `Generated by \`npm run bench${opts.quick ? " -- --quick" : ""}\`; do not edit by hand.`,
    ...(opts.quick
      ? ["", "**Quick run** (N = 3 hosts, one round, small data): it shows the bench works end to end; its numbers are not the headline figures."]
      : []),
    "",
    "## Machine",
    "",
    `- ${start.cores} cores (${start.cpu}), ${start.memoryGb} GB memory, Node ${start.node}, ${os.type()} ${os.release()}`,
    `- started ${start.date}; total run time ${seconds(opts.totalMs)}`,
    `- load average (1, 5, 15 min) at start ${start.load.join(", ")}, at end ${opts.endLoad.join(", ")}; highest 1-min load seen during the run ${opts.peakLoad}`,
    loaded
      ? `- **The machine was loaded** (other work shared the ${start.cores} cores during the run): absolute times are noisy; the ratios hold better, because every peer ran interleaved with ours, round by round.`
      : "- The machine was otherwise idle during the run.",
    "",
    "## Figures",
    "",
    `Median and spread (min–max) over ${opts.rounds} round${opts.rounds === 1 ? "" : "s"}; ratio = our median / the peer's median.`,
    "",
    markdownTable(figures),
    "",
  ];
  const notes = figures.filter((f) => f.what || f.note);
  if (notes.length) {
    lines.push("## What each figure measures", "");
    for (const f of notes) lines.push(`- **${f.id}** — ${f.what}.${f.note ? ` ${f.note}` : ""}`);
    lines.push("");
  }
  lines.push("## Time per part (seeding included)", "");
  for (const s of sections) lines.push(`- ${s.label}: ${seconds(s.ms)}${s.error ? ` — **failed**: ${s.error}` : ""}`);
  lines.push("");
  // Figures whose note says some hosts failed: their time is not a whole refresh or promotion.
  const partial = figures.filter((f) => /only \d+\/\d+ hosts/.test(f.note ?? ""));
  if (partial.length) {
    lines.push("## Figures where hosts failed", "");
    for (const f of partial) {
      const why = explain(PARTIAL_WHY, f.id);
      lines.push(`- **${f.id}**: ${/only .*?\.(?=\s|$)/.exec(f.note!)?.[0] ?? "some hosts failed."}${why ? ` ${why}` : ""}`);
    }
    lines.push("");
  }
  const missed = figures.filter((f) => f.met === false);
  lines.push("## Goals missed", "");
  if (missed.length === 0) lines.push(figures.some((f) => f.met !== null) ? "None: every goal judged in this run was met." : "No goal was judged in this run.");
  for (const f of missed) {
    const why = explain(WHY, f.id);
    lines.push(`- **${f.id}**: ${verdict(f)}.${why ? ` Why: ${why}` : ""}`);
  }
  lines.push("");
  return lines.join("\n");
}

/** Replaces the table between the README's bench markers, when both are there. */
function updateReadme(table: string, start: Machine, failed: Section[]): void {
  const file = path.join(ROOT, "README.md");
  const text = readFileSync(file, "utf8");
  const re = /(<!-- bench-table:start -->\n)[\s\S]*?(<!-- bench-table:end -->)/;
  if (!re.test(text)) return;
  const failures = failed.map((s) => `\n${s.label}: failed in this run (${s.error}).\n`).join("");
  const body = `Measured ${start.date.slice(0, 10)} on ${start.cores} cores, Node ${start.node} (details, load and why any goal is missed: [BENCHMARKS.md](BENCHMARKS.md)).\n\n${table}\n${failures}`;
  writeFileSync(file, text.replace(re, (_m, a: string, b: string) => `${a}${body}${b}`));
}

function publish(run: Run, out: string, log: (line: string) => void): void {
  writeFileSync(out, report(run));
  log(`wrote ${path.relative(process.cwd(), out) || out}`);
  if (!run.quick && run.allRows) updateReadme(markdownTable(run.sections.flatMap((s) => s.figures)), run.start, run.sections.filter((s) => s.error));
}

async function main(): Promise<number> {
  const opts = parse();
  const log = (line: string) => console.error(`[bench] ${line}`);
  if (opts.render) {
    const run = JSON.parse(readFileSync(opts.render, "utf8")) as Run;
    printFigures(run.sections.flatMap((s) => s.figures));
    publish(run, opts.out ?? path.join(ROOT, "BENCHMARKS.md"), log);
    return 0;
  }
  cleanUpOnSignals(log);
  const start = machine();
  const peakLoad = watchLoad();
  const t0 = performance.now();
  const sizes = opts.quick ? { refresh: [3], promote: [3] } : { refresh: [10, 50, 200], promote: [10, 50] };
  const data = opts.quick ? { stanzas: 3_000, targetBytes: 2_500_000 } : { stanzas: 60_000, targetBytes: 50_000_000 };
  log(`${opts.quick ? "quick" : "full"} run: rows ${[...opts.rows].join(", ")}, ${opts.rounds} round(s); ${start.cores} cores, load ${start.load.join(" ")}`);

  const sections: Section[] = [];
  const part = async (label: string, run: () => Promise<Figure[]>) => {
    const s0 = performance.now();
    const section: Section = { label, figures: [], ms: 0 };
    sections.push(section);
    try {
      section.figures = await run();
    } catch (e) {
      section.error = e instanceof Error ? e.message.split("\n")[0]! : String(e);
      log(`${label} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
    section.ms = performance.now() - s0;
    log(`${label}: ${seconds(section.ms)}`);
  };

  if (opts.rows.has("1") || opts.rows.has("2")) {
    // One sandbox for rows 1 and 2: each size uses its first N hosts.
    const n = Math.max(...(opts.rows.has("1") ? sizes.refresh : []), ...(opts.rows.has("2") ? sizes.promote : []));
    const work = mkdtempSync(path.join(os.tmpdir(), "scap-bench-"));
    const removeWork = onCleanup(() => rmSync(work, { recursive: true, force: true }));
    const stopSandbox = onCleanup(() => down(path.join(work, "sandbox")));
    let sandbox: Awaited<ReturnType<typeof up>> | undefined;
    await part(`sandbox of ${n} hosts (seeding: sshd, host roots, signed repository, installed build)`, async () => {
      sandbox = await up({ hosts: n, dir: path.join(work, "sandbox") });
      return [];
    });
    if (sandbox) {
      const sb = sandbox;
      if (opts.rows.has("1")) await part(`row 1, refresh of ${sizes.refresh.join("/")} hosts`, () => refreshFigures({ sizes: sizes.refresh, rounds: opts.rounds, log, sandbox: sb }));
      if (opts.rows.has("2")) await part(`row 2, promotion of ${sizes.promote.join("/")} hosts`, () => promoteFigures({ sizes: sizes.promote, rounds: opts.rounds, log, sandbox: sb }));
    }
    await stopSandbox();
    await removeWork();
  }
  if (opts.rows.has("3")) {
    await part(`row 3, repository read of ${data.stanzas.toLocaleString("en")} stanzas`, () => repositoryFigures({ ...data, rounds: opts.rounds, log }));
  }
  if (opts.rows.has("http")) {
    await part("rows 4–7, HTTP, live viewers and memory", async () => {
      const { httpFigures } = await import("./http");
      return httpFigures({ quick: opts.quick, log });
    });
  }
  await runCleanups(log);

  const totalMs = performance.now() - t0;
  const figures = sections.flatMap((s) => s.figures);
  console.log("");
  printFigures(figures);
  console.log(`\ntotal ${seconds(totalMs)}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const failed = sections.filter((s) => s.error);
  const run: Run = { quick: opts.quick, rounds: opts.rounds, allRows: opts.rows.size === ROWS.length, start, endLoad: machine().load, peakLoad: peakLoad(), totalMs, sections };
  writeFileSync(LAST_RUN, JSON.stringify(run));
  log(`figures saved to ${LAST_RUN}`);
  if (opts.out) publish(run, opts.out, log);
  for (const s of failed) log(`FAILED: ${s.label}: ${s.error}`);
  return failed.length ? 1 : 0;
}

main().then(
  async (code) => {
    await runCleanups();
    process.exit(code);
  },
  async (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    await runCleanups();
    process.exit(1);
  },
);
