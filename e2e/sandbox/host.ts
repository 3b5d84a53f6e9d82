// One sandbox host = one root folder H (its own apt config, dpkg database and installed files)
// plus one sshd on 127.0.X.i:22 in a private mount namespace, so sessions see the host's own
// /run and sudoers without touching the machine's.
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { ARCHITECTURE, COMPONENT, PACKAGE, SUITE } from "./repo";
import type { HostState } from "./state";
import { isAlive, killProcs, listPids, mountNamespace, probeTcp, procOf, readBanner, readCmdline, run, sleep, type Proc, type RunResult } from "./util";

export const SSH_PORT = 22;

export interface HostContext {
  dir: string;
  repoUrl: string;
  keyringBinaryPath: string;
  clientPublicKeyPath: string;
  sudoersDir: string;
  logsDir: string;
}

export interface SshIdentity {
  privateKeyPath: string;
  knownHostsPath: string;
}

const KEYRING_NAME = "scap-sandbox.gpg";

export const hostsDir = (dir: string) => path.join(dir, "hosts");
export const hostRoot = (dir: string, name: string) => path.join(hostsDir(dir), name);
export const templateRoot = (dir: string) => path.join(dir, "host-template");

export function hostName(i: number, total: number): string {
  return `beta${String(i).padStart(Math.max(2, String(total).length), "0")}`;
}

/** PATH with the host's own /usr/bin first, so `scap` on a host is that host's scap. */
const hostPath = (root: string) => `${root}/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** Environment that points apt, dpkg and dpkg-query at one host's root, for commands run locally. */
export function hostEnv(root: string): Record<string, string> {
  return {
    APT_CONFIG: path.join(root, "apt.conf"),
    DPKG_ADMINDIR: path.join(root, "var/lib/dpkg"),
    PATH: hostPath(root),
    HOME: path.join(root, "root"),
    DEBIAN_FRONTEND: "noninteractive",
    LC_ALL: "C",
  };
}

async function makeLayout(root: string): Promise<void> {
  const dirs = [
    "etc/apt/apt.conf.d",
    "etc/apt/preferences.d",
    "etc/apt/sources.list.d",
    "etc/apt/keyrings",
    "etc/ssh",
    "var/lib/apt/lists/partial",
    "var/cache/apt/archives/partial",
    "var/log/apt",
    "var/lib/dpkg/info",
    "var/lib/dpkg/updates",
    "var/lib/dpkg/triggers",
    "var/lib/dpkg/alternatives",
    "root",
  ];
  for (const d of dirs) await fsp.mkdir(path.join(root, d), { recursive: true });
  for (const f of ["var/lib/dpkg/status", "var/lib/dpkg/available"]) await fsp.writeFile(path.join(root, f), "");
}

/** The files that name the host's own path; rewritten after a root is copied from the template. */
async function writeAptFiles(root: string, ctx: HostContext): Promise<void> {
  await fsp.writeFile(
    path.join(root, "apt.conf"),
    [
      `Dir "${root}/";`,
      // Without --root, apt's dpkg would unpack into the machine's own /; --log is not relative
      // to --root and would otherwise append to the machine's /var/log/dpkg.log.
      `DPkg::Options { "--root=${root}"; "--admindir=${root}/var/lib/dpkg"; "--log=${root}/var/log/dpkg.log"; };`,
      // The _apt download user may not be able to enter a private sandbox dir (mode 0700).
      `APT::Sandbox::User "root";`,
      `Acquire::Languages "none";`,
      "",
    ].join("\n"),
  );
  await fsp.copyFile(ctx.keyringBinaryPath, path.join(root, "etc/apt/keyrings", KEYRING_NAME));
  await fsp.writeFile(
    path.join(root, "etc/apt/sources.list.d/scap-sandbox.sources"),
    [
      "Types: deb",
      `URIs: ${ctx.repoUrl}`,
      `Suites: ${SUITE}`,
      `Components: ${COMPONENT}`,
      `Architectures: ${ARCHITECTURE}`,
      `Signed-By: ${path.join(root, "etc/apt/keyrings", KEYRING_NAME)}`,
      "",
    ].join("\n"),
  );
}

function sshdConfig(root: string, address: string, ctx: HostContext): string {
  return [
    `ListenAddress ${address}:${SSH_PORT}`,
    `HostKey ${root}/etc/ssh/ssh_host_ed25519_key`,
    `PidFile ${root}/sshd.pid`,
    `AuthorizedKeysFile ${ctx.clientPublicKeyPath}`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    // The sandbox dir may sit in a world-writable temp folder.
    "StrictModes no",
    // The default 10:30:100 drops sessions when a whole batch connects at once.
    "MaxStartups 200:30:400",
    "MaxSessions 64",
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    "AllowTcpForwarding no",
    "Subsystem sftp internal-sftp",
    // HOME matters for speed: the machine's real ~/.bashrc would run on every command.
    `SetEnv APT_CONFIG=${root}/apt.conf DPKG_ADMINDIR=${root}/var/lib/dpkg PATH=${hostPath(root)} HOME=${root}/root`,
    "",
  ].join("\n");
}

export async function writeHostFiles(root: string, address: string, ctx: HostContext): Promise<void> {
  await writeAptFiles(root, ctx);
  await fsp.writeFile(path.join(root, "sshd_config"), sshdConfig(root, address, ctx));
}

/**
 * Builds one host root with the repository's index fetched and `installed` installed by the real
 * apt-get, to be copied for every host: one apt run instead of N.
 */
export async function buildTemplate(ctx: HostContext, installed: string | null): Promise<string> {
  const root = templateRoot(ctx.dir);
  await fsp.rm(root, { recursive: true, force: true });
  await makeLayout(root);
  await writeAptFiles(root, ctx);
  const env = hostEnv(root);
  const log = fs.openSync(path.join(ctx.logsDir, "host-template.log"), "a");
  try {
    const apt = async (args: string[]) => {
      const r = await run("apt-get", args, { env, allowFail: true });
      fs.writeSync(log, `$ apt-get ${args.join(" ")}\n${r.stdout}${r.stderr}\n`);
      if (r.code !== 0) throw new Error(`template host: apt-get ${args.join(" ")} exited ${r.code}:\n${(r.stderr || r.stdout).trim()}`);
    };
    await apt(["update", "-q", "--error-on=any"]);
    if (installed !== null) await apt(["install", "-y", "-q", "--allow-downgrades", `${PACKAGE}=${installed}`]);
    await apt(["clean"]);
  } finally {
    fs.closeSync(log);
  }
  // apt's binary caches record absolute list paths; each copy rebuilds its own.
  for (const f of await fsp.readdir(path.join(root, "var/cache/apt"))) {
    if (f.endsWith(".bin")) await fsp.rm(path.join(root, "var/cache/apt", f), { force: true });
  }
  for (const f of await fsp.readdir(path.join(root, "var/log/apt"))) await fsp.rm(path.join(root, "var/log/apt", f), { force: true });
  await fsp.rm(path.join(root, "var/log/dpkg.log"), { force: true });
  return root;
}

export async function cloneTemplate(template: string, root: string): Promise<void> {
  await fsp.rm(root, { recursive: true, force: true });
  await fsp.mkdir(path.dirname(root), { recursive: true });
  await run("cp", ["-a", "--", template, root]);
}

export async function generateHostKey(root: string): Promise<string> {
  const key = path.join(root, "etc/ssh/ssh_host_ed25519_key");
  await fsp.rm(key, { force: true });
  await fsp.rm(`${key}.pub`, { force: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${path.basename(root)}`, "-f", key]);
  return (await fsp.readFile(`${key}.pub`, "utf8")).trim();
}

/** Keeps the key known_hosts lists, once, so a changed key can be undone. */
export async function saveOriginalHostKey(root: string): Promise<void> {
  const key = path.join(root, "etc/ssh/ssh_host_ed25519_key");
  const saved = path.join(root, "etc/ssh/original_ssh_host_ed25519_key");
  if (fs.existsSync(saved)) return;
  await fsp.copyFile(key, saved);
  await fsp.copyFile(`${key}.pub`, `${saved}.pub`);
}

/** Puts back the key known_hosts lists; false when it was never changed. */
export async function restoreOriginalHostKey(root: string): Promise<boolean> {
  const key = path.join(root, "etc/ssh/ssh_host_ed25519_key");
  const saved = path.join(root, "etc/ssh/original_ssh_host_ed25519_key");
  if (!fs.existsSync(saved)) return false;
  await fsp.copyFile(saved, key);
  await fsp.copyFile(`${saved}.pub`, `${key}.pub`);
  await fsp.chmod(key, 0o600);
  return true;
}

/** `address,name keytype key` lines for every host. */
export function knownHostsLines(hosts: Array<{ name: string; address: string; publicKey: string }>): string {
  return hosts.map((h) => `${h.address},${h.name} ${h.publicKey.split(" ").slice(0, 2).join(" ")}\n`).join("");
}

export async function writeSudoers(dir: string): Promise<string> {
  const sudoersDir = path.join(dir, "sudoers.d");
  await fsp.mkdir(sudoersDir, { recursive: true, mode: 0o755 });
  // sudo ignores drop-ins not owned by root or writable by others; file names with a dot are skipped.
  await fsp.writeFile(path.join(sudoersDir, "scap-sandbox"), 'Defaults env_keep += "APT_CONFIG DPKG_ADMINDIR"\n', { mode: 0o440 });
  await fsp.chmod(path.join(sudoersDir, "scap-sandbox"), 0o440);
  return sudoersDir;
}

// A private /run (sshd needs /run/sshd) and the sandbox's sudoers drop-in, visible only to this
// sshd and its sessions; the machine's own stay untouched.
const NAMESPACE_SCRIPT =
  'mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && mount --bind "$1" /etc/sudoers.d && exec /usr/sbin/sshd -D -e -f "$2"';

/** Starts the host's sshd detached; the process is sshd itself (unshare and sh exec into it). */
export function spawnSshd(root: string, name: string, ctx: Pick<HostContext, "sudoersDir" | "logsDir">): Proc {
  const log = fs.openSync(path.join(ctx.logsDir, `${name}.sshd.log`), "a");
  const child = spawn(
    "unshare",
    ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", NAMESPACE_SCRIPT, "sh", ctx.sudoersDir, path.join(root, "sshd_config")],
    { detached: true, stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  child.unref();
  const proc = procOf(child.pid!);
  if (!proc) throw new Error(`sshd for ${name} exited at once; see ${path.join(ctx.logsDir, `${name}.sshd.log`)}`);
  return proc;
}

/** Waits until the sshd greets with its banner; fails early when the process dies. */
export async function waitForBanner(host: { name: string; address: string; port: number }, proc: Proc | null, timeoutMs: number, logsDir: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const banner = await readBanner(host.address, host.port, 1000);
    if (banner?.startsWith("SSH-2.0-")) return;
    if (proc && !isAlive(proc)) {
      const log = await fsp.readFile(path.join(logsDir, `${host.name}.sshd.log`), "utf8").catch(() => "");
      throw new Error(`sshd for ${host.name} exited: ${log.trim().split("\n").slice(-3).join(" | ")}`);
    }
    await sleep(40);
  }
  throw new Error(`sshd for ${host.name} (${host.address}:${host.port}) sent no banner within ${timeoutMs} ms`);
}

export function sshArgs(id: SshIdentity, address: string, port: number, command: string, connectTimeoutSeconds = 5): string[] {
  return [
    "-F",
    "/dev/null",
    "-i",
    id.privateKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${id.knownHostsPath}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `ConnectTimeout=${connectTimeoutSeconds}`,
    "-o",
    "LogLevel=ERROR",
    "-p",
    String(port),
    `root@${address}`,
    command,
  ];
}

/** Runs one command on a host with the OpenSSH client, the sandbox key and known_hosts. */
export function sshExec(id: SshIdentity, address: string, port: number, command: string, opts: { connectTimeoutSeconds?: number; timeoutMs?: number } = {}): Promise<RunResult> {
  return run("ssh", sshArgs(id, address, port, command, opts.connectTimeoutSeconds), { allowFail: true, timeoutMs: opts.timeoutMs ?? 180_000 });
}

// ---- stopping --------------------------------------------------------------------------------

function environOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "utf8");
  } catch {
    return "";
  }
}

/** Live PIDs by mount namespace, read once so a whole cluster can be matched in one pass. */
export function namespaceIndex(): Map<string, number[]> {
  const index = new Map<string, number[]>();
  for (const pid of listPids()) {
    const ns = mountNamespace(pid);
    if (!ns) continue;
    const list = index.get(ns);
    if (list) list.push(pid);
    else index.set(ns, [pid]);
  }
  return index;
}

/**
 * The host's sshd plus everything running in its mount namespace (sessions, sudo, apt, dpkg):
 * sshd puts each session in its own process group, so killing the listener alone leaves them.
 */
export function hostProcesses(host: HostState, index: Map<string, number[]> = namespaceIndex()): Proc[] {
  const out: Proc[] = [];
  const listenerAlive = isAlive(host.sshd);
  const ns = listenerAlive ? mountNamespace(host.sshd!.pid) : host.mountNamespace;
  if (listenerAlive) out.push(host.sshd!);
  if (isAlive(host.hang)) out.push(host.hang!);
  if (ns) {
    for (const pid of index.get(ns) ?? []) {
      if (pid === host.sshd?.pid) continue;
      // Without a live listener the namespace id alone could have been reused; require a trace of the host.
      if (!listenerAlive && !environOf(pid).includes(host.root + "/") && !readCmdline(pid).join(" ").includes(host.root + "/")) continue;
      const p = procOf(pid);
      if (p) out.push(p);
    }
  }
  return out;
}

export async function stopHostProcesses(host: HostState): Promise<void> {
  await killProcs(hostProcesses(host));
  host.sshd = null;
  host.hang = null;
  host.mountNamespace = null;
  const deadline = Date.now() + 5000;
  while ((await probeTcp(host.address, host.port, 500)) !== "refused") {
    if (Date.now() > deadline) throw new Error(`${host.name}: ${host.address}:${host.port} still accepts connections after its processes were stopped`);
    await sleep(50);
  }
}

// Accepts TCP and never reads or writes: an SSH client waits for a banner that never comes.
const HANG_SCRIPT = `
const net = require("net");
const [address, port] = process.argv.slice(-2);
const held = [];
net.createServer({ pauseOnConnect: true }, (s) => { held.push(s); s.on("error", () => {}); })
  .listen({ host: address, port: Number(port), backlog: 4096 });
process.on("SIGTERM", () => process.exit(0));
`;

export async function startHangListener(host: HostState, logsDir: string): Promise<Proc> {
  const log = fs.openSync(path.join(logsDir, `${host.name}.hang.log`), "a");
  // The root path in argv marks the process as this host's, for clean-up after a crash.
  const child = spawn(process.execPath, ["-e", HANG_SCRIPT, "scap-sandbox-hang", host.root + "/", host.address, String(host.port)], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  child.unref();
  const proc = procOf(child.pid!);
  if (!proc) throw new Error(`hang listener for ${host.name} exited at once`);
  const deadline = Date.now() + 10_000;
  while ((await probeTcp(host.address, host.port, 500)) !== "open") {
    if (!isAlive(proc)) throw new Error(`hang listener for ${host.name} exited; see ${logsDir}/${host.name}.hang.log`);
    if (Date.now() > deadline) throw new Error(`hang listener for ${host.name} did not listen within 10 s`);
    await sleep(30);
  }
  return proc;
}
