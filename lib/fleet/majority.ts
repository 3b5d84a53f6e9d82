import { compareVersions } from "../apt/version";

/**
 * The value found most often; a tie goes to the newest version in dpkg's order, with null (not
 * installed) below every version. undefined for an empty list.
 */
export function mostCommonVersion<T extends string | null>(versions: readonly T[]): T | undefined {
  const counts = new Map<T, number>();
  for (const v of versions) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: { version: T; n: number } | undefined;
  for (const [version, n] of counts) {
    if (!best || n > best.n || (n === best.n && newer(version, best.version))) best = { version, n };
  }
  return best?.version;
}

function newer(a: string | null, b: string | null): boolean {
  if (a === null) return false;
  if (b === null) return true;
  return compareVersions(a, b) > 0;
}
