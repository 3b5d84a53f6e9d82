// The one table every benchmark prints, and BENCHMARKS.md: machine, then per figure ours, the peer,
// the ratio, median and spread, and the goal with met or missed by how much.
import os from "node:os";
import { median, spread, type Figure, type Sample } from "./figures";

export interface Machine {
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  date: string;
  /** 1, 5 and 15 minute load averages. */
  load: number[];
}

export function machine(): Machine {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown",
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const digits = (v: number, unit: Sample["unit"]) => (unit === "s" ? (v < 10 ? 2 : 1) : v < 10 ? 1 : 0);

function fmt(x: number, unit: Sample["unit"]): string {
  return `${x.toFixed(digits(x, unit))} ${unit}`;
}

/** "0.49 s (0.45–0.52, 5 rounds)". */
export function describeSample(s: Sample): string {
  if (s.values.length === 0) return "—";
  const m = median(s.values);
  if (s.values.length === 1) return `${fmt(m, s.unit)} (1 round)`;
  const { min, max } = spread(s.values);
  return `${fmt(m, s.unit)} (${min.toFixed(digits(min, s.unit))}–${max.toFixed(digits(max, s.unit))}, ${s.values.length} rounds)`;
}

/** "met", or "missed by 12% (0.28× against ≤ 0.25×)" when the goal names a ratio bound. */
export function verdict(f: Figure): string {
  if (f.met === null) return "—";
  if (f.met) return "met";
  const bound = /≤\s*([\d.]+)\s*×/.exec(f.goal);
  if (bound && f.ratio !== null && f.ratio > Number(bound[1])) {
    const limit = Number(bound[1]);
    return `missed by ${Math.round((f.ratio / limit - 1) * 100)}% (${f.ratio.toFixed(2)}× against ≤ ${limit}×)`;
  }
  return f.ratio === null ? "missed" : `missed at ${f.ratio.toFixed(2)}×: see the note`;
}

export function figureRow(f: Figure): string[] {
  return [
    f.id,
    describeSample(f.ours),
    f.peer ? `${f.peer.name}: ${describeSample(f.peer)}` : "—",
    f.ratio === null ? "—" : `${f.ratio.toFixed(2)}×`,
    f.goal,
    verdict(f),
  ];
}

export const HEADER = ["figure", "ours, median (min–max)", "peer, median (min–max)", "ratio", "goal", "result"];

const cell = (s: string) => s.replace(/\|/g, "\\|");

export function markdownTable(figures: Figure[]): string {
  const lines = [`| ${HEADER.join(" | ")} |`, `|${HEADER.map(() => "---").join("|")}|`];
  for (const f of figures) lines.push(`| ${figureRow(f).map(cell).join(" | ")} |`);
  return lines.join("\n");
}

/** A plain-text table for the terminal. */
export function printFigures(figures: Figure[], out: (line: string) => void = console.log): void {
  const rows = figures.map(figureRow);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  out(line(HEADER));
  out(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) out(line(r));
  const notes = figures.filter((f) => f.note);
  if (notes.length) {
    out("");
    for (const f of notes) out(`${f.id}: ${f.note}`);
  }
}
