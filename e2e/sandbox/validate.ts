// Input grammars and the machine check that runs before anything is started.
import fs from "node:fs";
import path from "node:path";
import { isValidVersion } from "../../lib/apt/version";
import { run, tcpListeners } from "./util";

/** The app's own grammar (Debian policy 5.6.12), so the sandbox accepts exactly what the app does. */
export const isDebianVersion = isValidVersion;

export function assertDebianVersion(v: string): string {
  if (!isDebianVersion(v)) throw new Error(`not a Debian version: ${JSON.stringify(v)}`);
  return v;
}

export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

export function assertHostName(name: string): string {
  if (!HOST_NAME.test(name)) throw new Error(`not a host name: ${JSON.stringify(name)}`);
  return name;
}

/**
 * The sandbox folder's path ends up inside sshd_config, apt.conf and sudoers, none of which share
 * a quoting syntax, so only characters that need no quoting anywhere are accepted.
 */
export function assertSandboxDir(dir: string): string {
  const abs = path.resolve(dir);
  if (!/^[A-Za-z0-9._/+-]+$/.test(abs)) {
    throw new Error(`sandbox dir ${JSON.stringify(abs)} may only contain letters, digits and . _ / + -`);
  }
  if (abs === "/") throw new Error("the sandbox dir cannot be /");
  return abs;
}

/** `dpkg --compare-versions` is the reference for Debian version order. */
export async function compareVersions(a: string, b: string): Promise<number> {
  if (a === b) return 0;
  const lt = await run("dpkg", ["--compare-versions", a, "lt", b], { allowFail: true });
  if (lt.code === 0) return -1;
  const eq = await run("dpkg", ["--compare-versions", a, "eq", b], { allowFail: true });
  return eq.code === 0 ? 0 : 1;
}

/** Ascending Debian order, duplicates (by Debian equality) removed. */
export async function sortVersions(versions: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const v of versions) {
    assertDebianVersion(v);
    let lo = 0;
    let hi = out.length;
    let dup = false;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = await compareVersions(v, out[mid]!);
      if (c === 0) {
        dup = true;
        break;
      }
      if (c < 0) hi = mid;
      else lo = mid + 1;
    }
    if (!dup) out.splice(lo, 0, v);
  }
  return out;
}

const REQUIRED: Array<[binary: string, pkg: string]> = [
  ["sshd", "openssh-server"],
  ["ssh", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["apt-get", "apt"],
  ["apt-ftparchive", "apt-utils"],
  ["dpkg", "dpkg"],
  ["dpkg-query", "dpkg"],
  ["dpkg-deb", "dpkg-dev"],
  ["dpkg-scanpackages", "dpkg-dev"],
  ["gpg", "gnupg"],
  ["gpgconf", "gnupg"],
  ["sudo", "sudo"],
  ["unshare", "util-linux"],
  ["mount", "mount"],
  ["xz", "xz-utils"],
  ["gzip", "gzip"],
  ["cp", "coreutils"],
];

function onPath(binary: string): boolean {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
  return dirs.some((d) => {
    try {
      fs.accessSync(path.join(d, binary), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Refuses with the exact fix when the machine cannot run a sandbox. */
export function preflight(): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new Error("the sandbox must run as root (it binds 127.0.X.Y:22 and starts sshd in mount namespaces) — run it with sudo or as root");
  }
  const missing = REQUIRED.filter(([b]) => !onPath(b));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    throw new Error(`missing: ${missing.map(([b]) => b).join(", ")} — run: apt-get install -y ${pkgs.join(" ")}`);
  }
  try {
    const sudoers = fs.readFileSync("/etc/sudoers", "utf8");
    if (!/^[@#]includedir\s+\/etc\/sudoers\.d\s*$/m.test(sudoers)) {
      throw new Error("/etc/sudoers does not include /etc/sudoers.d — add the line: @includedir /etc/sudoers.d");
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error("missing: /etc/sudoers — run: apt-get install -y sudo");
    throw e;
  }
  const wildcard = tcpListeners().find((l) => l.port === 22 && (l.address === "0.0.0.0" || l.address === "::"));
  if (wildcard) {
    throw new Error(`something listens on ${wildcard.address} port 22 (a system sshd?); it would shadow every sandbox host address — stop it or make it listen on one address`);
  }
}
