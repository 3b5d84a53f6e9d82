import { parseBetaVersion } from "./version";

/**
 * The repository's compare link between two builds (`{from}` and `{to}` replaced by the git
 * commits in their versions), or null when there is no template or a version carries no commit.
 */
export function compareLink(template: string | undefined, fromVersion: string | null, toVersion: string): string | null {
  if (!template || !fromVersion) return null;
  const from = parseBetaVersion(fromVersion).gitCommit;
  const to = parseBetaVersion(toVersion).gitCommit;
  if (!from || !to || from === to) return null;
  return template.replaceAll("{from}", encodeURIComponent(from)).replaceAll("{to}", encodeURIComponent(to));
}
