// The signed apt repository: fake scap debs, the Packages/Release index, signatures, and the
// faults that corrupt them. Files served live under DIR/repo; DIR/repo-good keeps the last good
// index so a fault can always be undone.
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { assertDebianVersion } from "./validate";
import { atomicWrite, exists, run } from "./util";

export const SUITE = "beta";
export const COMPONENT = "main";
export const ARCHITECTURE = "amd64";
export const PACKAGE = "scap";
export const VALID_DAYS = 30;

export type RepositoryFault = "bad-signature" | "other-key" | "packages" | "truncated" | "deb" | "expired";
export const REPOSITORY_FAULTS: readonly RepositoryFault[] = ["bad-signature", "other-key", "packages", "truncated", "deb", "expired"];

export interface RepoLayout {
  dir: string;
  root: string;
  gnupgHome: string;
  signer: string;
  other: string;
}

export const repoRoot = (dir: string) => path.join(dir, "repo");
const debsDir = (dir: string) => path.join(dir, "debs");
const goodDir = (dir: string) => path.join(dir, "repo-good");
const stagingDir = (dir: string) => path.join(dir, "repo-staging");
const distRel = path.join("dists", SUITE);
const binaryRel = path.join(distRel, COMPONENT, `binary-${ARCHITECTURE}`);
const poolRel = path.join("pool", COMPONENT, PACKAGE.slice(0, 1), PACKAGE);

/** Pool file name: the epoch is not part of it, as in Debian's archive. */
export function debFileName(version: string): string {
  return `${PACKAGE}_${version.replace(/^[0-9]+:/, "")}_all.deb`;
}

export const builtDebPath = (dir: string, version: string) => path.join(debsDir(dir), debFileName(version));

// ---- keys ------------------------------------------------------------------------------------

const gpgArgs = (home: string) => ["--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""];

/**
 * gpg-agent puts its socket in the home folder when /run/user/0 is absent, and a Unix socket path
 * is limited to 107 bytes; a long sandbox dir gets its keys in a short temp folder instead.
 */
async function gnupgHomeFor(dir: string): Promise<string> {
  const inDir = path.join(dir, "gnupg");
  if (inDir.length + "/S.gpg-agent.browser".length < 100) {
    await fsp.mkdir(inDir, { mode: 0o700 });
    return inDir;
  }
  return fsp.mkdtemp(path.join(os.tmpdir(), "scap-sandbox-gpg-"));
}

async function generateKey(home: string, uid: string): Promise<string> {
  await run("gpg", [...gpgArgs(home), "--quick-gen-key", uid, "ed25519", "sign", "never"]);
  const list = await run("gpg", ["--homedir", home, "--batch", "--with-colons", "--list-secret-keys", uid]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)?.[1];
  if (!fpr) throw new Error(`gpg did not report a fingerprint for ${uid}`);
  return fpr;
}

/** Signing leaves a gpg-agent behind; it is stopped after each use so no helper outlives a step. */
export async function stopAgent(home: string): Promise<void> {
  await run("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { allowFail: true });
}

export async function createKeys(dir: string) {
  const gnupgHome = await gnupgHomeFor(dir);
  const signer = await generateKey(gnupgHome, "Scap Sandbox Repository <repository@scap-sandbox.invalid>");
  const other = await generateKey(gnupgHome, "Scap Sandbox Impostor <impostor@scap-sandbox.invalid>");
  const keyringPath = path.join(dir, "repository-key.asc");
  const keyringBinaryPath = path.join(dir, "repository-key.gpg");
  const otherKeyPath = path.join(dir, "other-key.asc");
  const armored = await run("gpg", ["--homedir", gnupgHome, "--batch", "--armor", "--export", signer]);
  const binary = await run("gpg", ["--homedir", gnupgHome, "--batch", "--export", signer], { binary: true });
  const otherArmored = await run("gpg", ["--homedir", gnupgHome, "--batch", "--armor", "--export", other]);
  await fsp.writeFile(keyringPath, armored.stdout);
  await fsp.writeFile(keyringBinaryPath, Buffer.from(binary.stdout, "base64"));
  await fsp.writeFile(otherKeyPath, otherArmored.stdout);
  await stopAgent(gnupgHome);
  return { gnupgHome, signer, other, keyringPath, keyringBinaryPath, otherKeyPath };
}

// ---- debs ------------------------------------------------------------------------------------

/**
 * Builds DIR/debs/scap_V_all.deb once. `failingPostinst`: its maintainer script exits 1, so dpkg
 * leaves the package half-configured (only for a version not built before).
 */
export async function buildDeb(dir: string, version: string, opts: { failingPostinst?: boolean } = {}): Promise<string> {
  assertDebianVersion(version);
  const out = builtDebPath(dir, version);
  if (await exists(out)) {
    if (opts.failingPostinst) throw new Error(`${version} was built before; a build with a failing postinst needs a version of its own`);
    return out;
  }
  const work = await fsp.mkdtemp(path.join(dir, ".deb-build-"));
  try {
    await fsp.mkdir(path.join(work, "DEBIAN"), { mode: 0o755 });
    await fsp.mkdir(path.join(work, "usr", "bin"), { recursive: true, mode: 0o755 });
    await fsp.writeFile(
      path.join(work, "DEBIAN", "control"),
      [
        `Package: ${PACKAGE}`,
        `Version: ${version}`,
        "Architecture: all",
        "Maintainer: Scap Sandbox <sandbox@scap-sandbox.invalid>",
        "Section: admin",
        "Priority: optional",
        "Description: fake scap build for the sandbox beta cluster",
        " /usr/bin/scap prints the version of this build.",
        "",
      ].join("\n"),
    );
    // The version is grammar-checked above, so it contains no quote and is safe inside '...'.
    const script = `#!/bin/sh\necho '${version}'\n`;
    await fsp.writeFile(path.join(work, "usr", "bin", PACKAGE), script, { mode: 0o755 });
    if (opts.failingPostinst) {
      await fsp.writeFile(path.join(work, "DEBIAN", "postinst"), "#!/bin/sh\necho 'postinst: configuration failed (sandbox fault)' >&2\nexit 1\n", { mode: 0o755 });
    }
    await fsp.mkdir(path.dirname(out), { recursive: true });
    // Built aside and renamed, so a concurrent build of the same version never leaves half a file.
    const tmp = path.join(work, "..", `.${path.basename(work)}.deb`);
    await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", work, tmp]);
    await fsp.rename(tmp, out);
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
  return out;
}

// ---- index and signatures --------------------------------------------------------------------

function releaseDate(d: Date): string {
  return d.toUTCString().replace("GMT", "UTC");
}

/** Sets Date and Valid-Until in a Release text (apt-ftparchive's own are replaced). */
function withDates(release: string, date: Date, validUntil: Date): string {
  const lines = release.split("\n").filter((l) => !/^(Date|Valid-Until):/.test(l));
  const at = Math.max(0, lines.findIndex((l) => /^(Architectures|Components|Description|MD5Sum|SHA256):/.test(l)));
  lines.splice(at, 0, `Date: ${releaseDate(date)}`, `Valid-Until: ${releaseDate(validUntil)}`);
  return lines.join("\n");
}

async function sign(layout: RepoLayout, key: string, releaseFile: string): Promise<{ inRelease: string; detached: string }> {
  const base = path.dirname(releaseFile);
  const inRelease = path.join(base, "InRelease");
  const detached = path.join(base, "Release.gpg");
  const common = [...gpgArgs(layout.gnupgHome), "--yes", "--digest-algo", "SHA512", "--local-user", `${key}!`];
  try {
    await run("gpg", [...common, "--clearsign", "--output", inRelease, releaseFile]);
    await run("gpg", [...common, "--armor", "--detach-sign", "--output", detached, releaseFile]);
  } finally {
    await stopAgent(layout.gnupgHome);
  }
  return { inRelease, detached };
}

async function compress(packages: Buffer, dir: string): Promise<void> {
  await fsp.writeFile(path.join(dir, "Packages"), packages);
  await fsp.writeFile(path.join(dir, "Packages.gz"), zlib.gzipSync(packages, { level: 9 }));
  const xz = await run("xz", ["--stdout", "--check=crc64", "-6"], { input: packages, binary: true });
  await fsp.writeFile(path.join(dir, "Packages.xz"), Buffer.from(xz.stdout, "base64"));
}

async function releaseText(stagingDist: string): Promise<string> {
  const set = (field: string, value: string) => ["-o", `APT::FTPArchive::Release::${field}=${value}`];
  const r = await run("apt-ftparchive", [
    ...set("Origin", "scap-sandbox"),
    ...set("Label", "scap-sandbox"),
    ...set("Suite", SUITE),
    ...set("Codename", SUITE),
    ...set("Architectures", ARCHITECTURE),
    ...set("Components", COMPONENT),
    ...set("Description", "Sandbox beta repository for scap"),
    "release",
    stagingDist,
  ]);
  return r.stdout;
}

/** Files of a tree, relative paths, signatures last so a client never sees a signature ahead of its index. */
async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const e of await fsp.readdir(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else out.push(r);
    }
  };
  if (await exists(root)) await walk("");
  const rank = (f: string) => (f.endsWith("InRelease") ? 3 : f.endsWith("Release.gpg") ? 2 : f.endsWith("Release") ? 1 : 0);
  return out.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Makes `dst` hold exactly `src`'s files, rewriting only those that differ. */
async function syncTree(src: string, dst: string): Promise<void> {
  const want = await listTree(src);
  for (const rel of want) {
    const data = await fsp.readFile(path.join(src, rel));
    const target = path.join(dst, rel);
    const current = await fsp.readFile(target).catch(() => null);
    if (current && current.equals(data)) continue;
    await fsp.mkdir(path.dirname(target), { recursive: true });
    await atomicWrite(target, data);
  }
  const keep = new Set(want);
  for (const rel of await listTree(dst)) if (!keep.has(rel)) await fsp.rm(path.join(dst, rel), { force: true });
}

/** The pool holds exactly the published versions' debs, byte for byte as built. */
async function syncPool(dir: string, published: readonly string[]): Promise<void> {
  const pool = path.join(repoRoot(dir), poolRel);
  await fsp.mkdir(pool, { recursive: true });
  const want = new Set(published.map(debFileName));
  for (const v of published) {
    const data = await fsp.readFile(builtDebPath(dir, v));
    const target = path.join(pool, debFileName(v));
    const current = await fsp.readFile(target).catch(() => null);
    if (!current || !current.equals(data)) await atomicWrite(target, data);
  }
  for (const f of await fsp.readdir(pool)) if (!want.has(f)) await fsp.rm(path.join(pool, f), { force: true });
}

/** Re-indexes the pool, signs, serves the result and keeps it as the last good state. */
export async function publishIndex(layout: RepoLayout, published: readonly string[]): Promise<void> {
  for (const v of published) await buildDeb(layout.dir, v);
  await syncPool(layout.dir, published);
  const staging = stagingDir(layout.dir);
  await fsp.rm(staging, { recursive: true, force: true });
  const stagingBinary = path.join(staging, binaryRel);
  await fsp.mkdir(stagingBinary, { recursive: true });
  const packages = await run("apt-ftparchive", ["packages", poolRel], { cwd: repoRoot(layout.dir) });
  await compress(Buffer.from(packages.stdout), stagingBinary);
  const stagingDist = path.join(staging, distRel);
  const now = new Date();
  const release = withDates(await releaseText(stagingDist), now, new Date(now.getTime() + VALID_DAYS * 86_400_000));
  await fsp.writeFile(path.join(stagingDist, "Release"), release);
  await sign(layout, layout.signer, path.join(stagingDist, "Release"));
  await syncTree(path.join(staging, "dists"), path.join(goodDir(layout.dir), "dists"));
  await syncTree(path.join(staging, "dists"), path.join(repoRoot(layout.dir), "dists"));
  await fsp.rm(staging, { recursive: true, force: true });
}

/** Serves the last good index and pool again. */
export async function restore(layout: RepoLayout, published: readonly string[]): Promise<void> {
  await syncPool(layout.dir, published);
  await syncTree(path.join(goodDir(layout.dir), "dists"), path.join(repoRoot(layout.dir), "dists"));
}

/**
 * A Packages text with one character of the first Description changed whose .gz and .xz come out
 * at the sizes of the good ones, so a client's check fails on the hash (apt: "Hash Sum mismatch")
 * rather than on the size. Falls back to the last candidate if no size-preserving edit is found.
 */
async function alterPackages(text: string, goodGz: number, goodXz: number): Promise<Buffer> {
  const prefix = "Description: ";
  const description = /^Description: (fake scap build[^\n]*)$/m.exec(text)?.[1];
  if (!description) throw new Error("Packages has no stanza to alter");
  let last: Buffer | null = null;
  // Every stanza shares this line; editing all of them alike keeps the compressors' matches intact.
  for (let i = 0; i < description.length; i++) {
    if (description[i] === " ") continue;
    for (const c of "etaoinshrdlucmfwypvbgkqjxz") {
      if (description[i] === c) continue;
      const altered = description.slice(0, i) + c + description.slice(i + 1);
      const candidate = Buffer.from(text.replaceAll(`${prefix}${description}\n`, `${prefix}${altered}\n`));
      last = candidate;
      if (zlib.gzipSync(candidate, { level: 9 }).length !== goodGz) continue;
      const xz = await run("xz", ["--stdout", "--check=crc64", "-6"], { input: candidate, binary: true });
      if (Buffer.from(xz.stdout, "base64").length === goodXz) return candidate;
    }
  }
  return last!;
}

/**
 * Same size, different bytes, still a valid deb of the same version: only the timestamp in the
 * first ar member header changes, so only the hash gives it away (apt: "Hash Sum mismatch").
 */
function alterDeb(deb: Buffer): Buffer {
  const out = Buffer.from(deb);
  const field = out.subarray(24, 36); // "!<arch>\n" + 16-byte member name, then 12-byte mtime
  const mtime = Number(field.toString("latin1").trim());
  if (!Number.isInteger(mtime) || mtime < 86_400) throw new Error("unexpected .deb layout: no ar member timestamp");
  out.write(String(mtime - 86_400).padEnd(12, " "), 24, "latin1");
  return out;
}

/**
 * Applies one fault on top of the last good state. `version` picks the deb for the "deb" fault
 * (default: the newest published).
 */
export async function tamper(layout: RepoLayout, published: readonly string[], what: RepositoryFault, version?: string): Promise<void> {
  await restore(layout, published);
  const root = repoRoot(layout.dir);
  const dist = path.join(root, distRel);
  const binary = path.join(root, binaryRel);
  const good = path.join(goodDir(layout.dir), distRel);
  const resign = async (key: string, release: string) => {
    const staging = path.join(stagingDir(layout.dir), distRel);
    await fsp.rm(stagingDir(layout.dir), { recursive: true, force: true });
    await fsp.mkdir(staging, { recursive: true });
    await fsp.writeFile(path.join(staging, "Release"), release);
    await sign(layout, key, path.join(staging, "Release"));
    for (const f of ["Release", "Release.gpg", "InRelease"]) await atomicWrite(path.join(dist, f), await fsp.readFile(path.join(staging, f)));
    await fsp.rm(stagingDir(layout.dir), { recursive: true, force: true });
  };
  switch (what) {
    case "bad-signature": {
      // Changed after signing: both the clearsigned text and the file the detached signature covers.
      const edit = (t: string) => t.replace(/^Label: scap-sandbox$/m, "Label: scap-sandbox-altered");
      for (const f of ["Release", "InRelease"]) {
        const t = await fsp.readFile(path.join(good, f), "utf8");
        if (edit(t) === t) throw new Error(`${f} has no Label line to alter`);
        await atomicWrite(path.join(dist, f), edit(t));
      }
      break;
    }
    case "other-key":
      await resign(layout.other, await fsp.readFile(path.join(good, "Release"), "utf8"));
      break;
    case "expired": {
      const now = Date.now();
      const release = withDates(await fsp.readFile(path.join(good, "Release"), "utf8"), new Date(now - 2 * 86_400_000), new Date(now - 86_400_000));
      await resign(layout.signer, release);
      break;
    }
    case "packages": {
      const goodBinary = path.join(good, COMPONENT, `binary-${ARCHITECTURE}`);
      const size = async (f: string) => (await fsp.stat(path.join(goodBinary, f))).size;
      const text = await alterPackages(await fsp.readFile(path.join(goodBinary, "Packages"), "utf8"), await size("Packages.gz"), await size("Packages.xz"));
      const tmp = await fsp.mkdtemp(path.join(layout.dir, ".packages-"));
      await compress(text, tmp);
      for (const f of ["Packages", "Packages.gz", "Packages.xz"]) await atomicWrite(path.join(binary, f), await fsp.readFile(path.join(tmp, f)));
      await fsp.rm(tmp, { recursive: true, force: true });
      break;
    }
    case "truncated":
      // Every variant is cut, so the failure shows whichever compression a client picks.
      for (const f of ["Packages", "Packages.gz", "Packages.xz"]) {
        const data = await fsp.readFile(path.join(binary, f));
        await atomicWrite(path.join(binary, f), data.subarray(0, Math.floor(data.length / 2)));
      }
      break;
    case "deb": {
      const v = version ?? published[published.length - 1];
      if (!v || !published.includes(v)) throw new Error(`version ${v ?? "(none)"} is not published`);
      await atomicWrite(path.join(root, poolRel, debFileName(v)), alterDeb(await fsp.readFile(builtDebPath(layout.dir, v))));
      break;
    }
  }
}
