// The Release file: dates, suite, and the signed list of index files with their sizes and hashes.
// Pure (no I/O).
import { Deb822Error, parseDeb822 } from "./deb822";
import { RepositoryError } from "./errors";

export interface IndexFileEntry {
  /** Path relative to the Release file's folder, e.g. "main/binary-amd64/Packages.xz". */
  path: string;
  size: number;
  /** Lower-case hex. */
  sha256: string;
}

export interface ReleaseInfo {
  origin: string | null;
  label: string | null;
  suite: string | null;
  codename: string | null;
  date: Date | null;
  validUntil: Date | null;
  architectures: string[];
  components: string[];
  acquireByHash: boolean;
  /** The SHA256 section, by path. */
  sha256: Map<string, IndexFileEntry>;
}

function parseDate(value: string | undefined, field: string, file: string): Date | null {
  if (value === undefined) return null;
  // RFC 2822 as apt writes it; Date.parse reads "UTC", "GMT" and numeric zones alike.
  const t = Date.parse(value);
  if (!/\d{4}/.test(value) || Number.isNaN(t)) throw new RepositoryError("parse-error", `${file}: ${field} is not a date: ${JSON.stringify(value)}`, file);
  return new Date(t);
}

const words = (v: string | undefined) => (v ?? "").split(/\s+/).filter(Boolean);

export function parseRelease(text: string, file: string): ReleaseInfo {
  let paragraphs;
  try {
    paragraphs = parseDeb822(text);
  } catch (e) {
    if (e instanceof Deb822Error) throw new RepositoryError("parse-error", `${file}: ${e.message}`, file);
    throw e;
  }
  const p = paragraphs[0];
  if (!p || p.size === 0) throw new RepositoryError("parse-error", `${file} is empty`, file);
  if (paragraphs.length > 1) throw new RepositoryError("parse-error", `${file} has ${paragraphs.length} paragraphs; a Release file has one`, file);

  const sha256 = new Map<string, IndexFileEntry>();
  const section = p.get("SHA256");
  if (section === undefined || section.trim() === "") {
    const weak = ["MD5Sum", "SHA1"].filter((f) => p.has(f));
    throw new RepositoryError(
      "parse-error",
      `${file} lists no SHA256 hashes${weak.length ? ` (only ${weak.join(", ")}, which are too weak to trust)` : ""}`,
      file,
    );
  }
  for (const line of section.split("\n")) {
    if (line.trim() === "") continue;
    const parts = line.trim().split(/\s+/);
    const [hash, size, path] = parts;
    if (parts.length !== 3 || !/^[0-9a-fA-F]{64}$/.test(hash!) || !/^[0-9]+$/.test(size!)) {
      throw new RepositoryError("parse-error", `${file}: malformed SHA256 line ${JSON.stringify(line.slice(0, 120))}`, file);
    }
    sha256.set(path!, { path: path!, size: Number(size), sha256: hash!.toLowerCase() });
  }

  return {
    origin: p.get("Origin") ?? null,
    label: p.get("Label") ?? null,
    suite: p.get("Suite") ?? null,
    codename: p.get("Codename") ?? null,
    date: parseDate(p.get("Date"), "Date", file),
    validUntil: parseDate(p.get("Valid-Until"), "Valid-Until", file),
    architectures: words(p.get("Architectures")),
    components: words(p.get("Components")),
    acquireByHash: (p.get("Acquire-By-Hash") ?? "").toLowerCase() === "yes",
    sha256,
  };
}

export interface ReleaseChecks {
  now: Date;
  /** How far in the future Date may be, for clock skew between the repository and us. */
  maxFutureSkewMs: number;
  /** The suite configured, checked against Suite/Codename (not for flat repositories). */
  suite?: string;
  /** Date of the last Release accepted from this source: an older one is a replay. */
  previousDate?: Date | null;
}

const iso = (d: Date) => d.toISOString().replace(".000Z", "Z");

/** apt's freshness rules: Date present and not ahead of us, Valid-Until not passed, no rollback. */
export function checkRelease(info: ReleaseInfo, file: string, checks: ReleaseChecks): void {
  const now = checks.now.getTime();
  if (checks.suite !== undefined && (info.suite !== null || info.codename !== null)) {
    if (info.suite !== checks.suite && info.codename !== checks.suite) {
      throw new RepositoryError(
        "parse-error",
        `${file} is for suite ${info.suite ?? "?"} (codename ${info.codename ?? "?"}), not the configured ${checks.suite}`,
        file,
      );
    }
  }
  if (info.validUntil && info.validUntil.getTime() < now) {
    throw new RepositoryError("expired", `${file} expired at ${iso(info.validUntil)} (Valid-Until); the repository must be re-signed`, file);
  }
  if (!info.date) throw new RepositoryError("parse-error", `${file} has no Date field`, file);
  if (info.date.getTime() > now + checks.maxFutureSkewMs) {
    throw new RepositoryError("expired", `${file} is dated ${iso(info.date)}, in the future (our clock: ${iso(checks.now)}); check the clocks`, file);
  }
  if (checks.previousDate && info.date.getTime() < checks.previousDate.getTime()) {
    throw new RepositoryError(
      "expired",
      `${file} is dated ${iso(info.date)}, older than the Release already accepted (${iso(checks.previousDate)}); refusing a possible replay of an old index`,
      file,
    );
  }
}

export type Compression = "xz" | "gz" | "none";

export interface IndexCandidate {
  entry: IndexFileEntry;
  compression: Compression;
}

export interface IndexSelection {
  /** Downloadable variants in order of preference: .xz, .gz, plain. */
  candidates: IndexCandidate[];
  /** The uncompressed index's entry when listed, to check what decompression produced. */
  uncompressed: IndexFileEntry | null;
}

/**
 * The Packages index for component/architecture among the signed SHA256 entries. Flat
 * repositories list "Packages*" next to the Release file.
 */
export function selectPackagesIndex(info: ReleaseInfo, opts: { flat: boolean; component: string; architecture: string }, file: string): IndexSelection {
  const dir = opts.flat ? "" : `${opts.component}/binary-${opts.architecture}/`;
  const base = `${dir}Packages`;
  const candidates: IndexCandidate[] = [];
  for (const [suffix, compression] of [
    [".xz", "xz"],
    [".gz", "gz"],
    ["", "none"],
  ] as const) {
    const entry = info.sha256.get(base + suffix);
    if (entry) candidates.push({ entry, compression });
  }
  if (candidates.length === 0) {
    const others = [...info.sha256.keys()].filter((p) => p.startsWith(base));
    const hint = others.length
      ? `; only ${others.join(", ")}, in a compression this reader does not support`
      : !opts.flat && (info.components.length || info.architectures.length)
        ? `; the repository has components ${info.components.join(" ") || "?"} and architectures ${info.architectures.join(" ") || "?"}`
        : "";
    throw new RepositoryError("not-found", `${file} lists no ${base}(.xz|.gz) in its SHA256 section${hint}`, file);
  }
  return { candidates, uncompressed: info.sha256.get(base) ?? null };
}
