// Debian package versions: dpkg's ordering, Debian policy's grammar, and the beta build stamp.
// Pure (no I/O): shared by the server, the UI and the command builder.

export interface DebianVersion {
  epoch: number;
  upstream: string;
  /** "" when the version has no Debian revision; dpkg orders that like "0". */
  revision: string;
}

/** A version dpkg would refuse to parse; the message says why, like dpkg's own. */
export class VersionError extends Error {
  constructor(
    readonly version: string,
    reason: string,
  ) {
    super(`invalid version ${JSON.stringify(version)}: ${reason}`);
    this.name = "VersionError";
  }
}

// dpkg stores the epoch in an int and refuses larger values.
const MAX_EPOCH = 2_147_483_647;

/**
 * Splits a version the way dpkg's parseversion() does: epoch before the first colon, revision after
 * the last hyphen. Throws VersionError where dpkg errors (empty parts, bad epoch, embedded space);
 * use isValidVersion() for the stricter policy grammar.
 */
export function parseVersion(input: string): DebianVersion {
  const s = input.trim();
  if (s === "") throw new VersionError(input, "version string is empty");
  if (/\s/.test(s)) throw new VersionError(input, "version string has embedded spaces");
  let rest = s;
  let epoch = 0;
  const colon = s.indexOf(":");
  if (colon !== -1) {
    const e = s.slice(0, colon);
    if (e === "") throw new VersionError(input, "epoch in version is empty");
    if (!/^[0-9]+$/.test(e)) throw new VersionError(input, "epoch in version is not a number");
    epoch = Number(e);
    if (epoch > MAX_EPOCH) throw new VersionError(input, "epoch in version is too big");
    rest = s.slice(colon + 1);
    if (rest === "") throw new VersionError(input, "nothing after colon in version number");
  }
  let upstream = rest;
  let revision = "";
  const hyphen = rest.lastIndexOf("-");
  if (hyphen !== -1) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === "") throw new VersionError(input, "revision number is empty");
  }
  if (upstream === "") throw new VersionError(input, "version number is empty");
  return { epoch, upstream, revision };
}

// Debian policy 5.6.12. Hyphens in the upstream part only when a revision follows (the last hyphen
// splits), colons nowhere but after the epoch.
const VERSION_GRAMMAR = /^(?:([0-9]{1,10}):)?([0-9][A-Za-z0-9.+~-]*?)(?:-([A-Za-z0-9.+~]+))?$/;

/**
 * True when `s` is a complete Debian version per policy: `[epoch:]upstream[-revision]`, upstream
 * starting with a digit, only `A-Za-z0-9.+~` (and `-` before a revision). Anything a shell would
 * interpret (spaces, quotes, `$`, `;`, backticks, newlines) fails.
 */
export function isValidVersion(s: string): boolean {
  if (typeof s !== "string" || s.length === 0 || s.length > 256) return false;
  const m = VERSION_GRAMMAR.exec(s);
  if (!m) return false;
  if (m[1] !== undefined && Number(m[1]) > MAX_EPOCH) return false;
  // Without a revision the whole rest is upstream, where a hyphen is not allowed.
  if (m[3] === undefined && m[2]!.includes("-")) return false;
  return true;
}

const CODE_0 = 48;
const CODE_9 = 57;
const CODE_TILDE = 126;

function isDigit(c: number): boolean {
  return c >= CODE_0 && c <= CODE_9;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

// dpkg's order(): digits never reach here, letters sort first, then `~` below everything including
// the end of the string, then all other characters after letters.
function order(c: number): number {
  if (c === 0 || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === CODE_TILDE) return -1;
  return c + 256;
}

/** dpkg's verrevcmp(): alternating non-digit and digit runs. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number) => (k < s.length ? s.charCodeAt(k) : 0);
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === CODE_0) i++;
    while (at(b, j) === CODE_0) j++;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i) - at(b, j);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/**
 * Compares two versions exactly as `dpkg --compare-versions` does: negative when a < b, zero when
 * equal (e.g. "1.0" and "0:1.0-0"), positive when a > b. Throws VersionError for what dpkg cannot parse.
 */
export function compareVersions(a: string | DebianVersion, b: string | DebianVersion): number {
  const va = typeof a === "string" ? parseVersion(a) : a;
  const vb = typeof b === "string" ? parseVersion(b) : b;
  if (va.epoch !== vb.epoch) return va.epoch > vb.epoch ? 1 : -1;
  const up = compareFragment(va.upstream, vb.upstream);
  if (up !== 0) return Math.sign(up);
  return Math.sign(compareFragment(va.revision, vb.revision));
}

export interface BetaVersion {
  /** The upstream release, e.g. "4.81.0". */
  upstream: string;
  /** When CI built the snapshot (the 14-digit UTC stamp), or null for a release build. */
  buildTime: Date | null;
  /** Abbreviated git commit of a gbp snapshot, or null. */
  gitCommit: string | null;
}

// Snapshot stamp as written by the beta CI: `+0~YYYYMMDDhhmmss.N`.
const STAMP = /(?:^|[~+.])(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?=[.~+]|$)/;
// `gbp dch --snapshot` appends `.gbp<commit>`; git-describe style versions end in `g<commit>`.
const COMMIT = /(?:\.gbp|[.+~-]g)([0-9a-f]{6,40})$/;

/**
 * Reads the build time and commit out of a beta-style version such as
 * `4.81.0-1+0~20261124120000.7~1.gbpdef456`. Fields that are absent are null.
 */
export function parseBetaVersion(version: string): BetaVersion {
  let parsed: DebianVersion;
  try {
    parsed = parseVersion(version);
  } catch {
    return { upstream: version, buildTime: null, gitCommit: null };
  }
  const tail = parsed.revision || parsed.upstream;
  let buildTime: Date | null = null;
  const m = STAMP.exec(tail);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    // Date.UTC rolls 2026-13-40 over into a real date; only an exact round trip is a stamp.
    if (t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s) {
      buildTime = t;
    }
  }
  const c = COMMIT.exec(tail);
  // A native package carries the snapshot suffix in its upstream part; the release is what precedes it.
  const snapshot = !parsed.revision && (buildTime !== null || c !== null);
  const upstream = snapshot ? parsed.upstream.replace(/[~+].*$/, "") : parsed.upstream;
  return { upstream, buildTime, gitCommit: c ? c[1]! : null };
}
