// The shape every benchmark module reports, so `npm run bench` can print one table and write
// BENCHMARKS.md. Figures only: nothing here asserts.

export interface Sample {
  /** Every round's value, in `unit`. */
  values: number[];
  unit: "ms" | "s" | "MB" | "req/s";
}

export interface Figure {
  /** The row number and a short key, e.g. "1 refresh 50 hosts". */
  id: string;
  what: string;
  ours: Sample;
  /** The tool a user would pick instead, on the same hosts or files, in the same invocation. */
  peer: (Sample & { name: string }) | null;
  /** The goal in words, e.g. "≤ 0.25× parallel-ssh". */
  goal: string;
  /** ours.median / peer.median (or ours against the goal's own baseline); null when not a ratio. */
  ratio: number | null;
  /** Whether the goal was met in this run; null when it cannot be judged. */
  met: boolean | null;
  note?: string;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): { min: number; max: number } {
  return { min: Math.min(...xs), max: Math.max(...xs) };
}
