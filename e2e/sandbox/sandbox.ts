// Starting, loading and stopping a sandbox beta cluster, and the switches that change it while it runs.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import YAML from "yaml";
import { configSchema } from "../../lib/config-schema";
import {
  buildTemplate,
  cloneTemplate,
  generateHostKey,
  hostEnv,
  hostName,
  hostProcesses,
  namespaceIndex,
  restoreOriginalHostKey,
  saveOriginalHostKey,
  hostRoot,
  knownHostsLines,
  spawnSshd,
  SSH_PORT,
  sshExec,
  startHangListener,
  stopHostProcesses,
  waitForBanner,
  writeHostFiles,
  writeSudoers,
  type HostContext,
} from "./host";
import {
  ARCHITECTURE,
  buildDeb,
  COMPONENT,
  createKeys,
  PACKAGE,
  publishIndex,
  repoRoot,
  restore,
  stopAgent,
  SUITE,
  tamper,
  type RepoLayout,
  type RepositoryFault,
} from "./repo";
import { applyRepoMode, startRepoServer } from "./repo-server";
import {
  claimOctet,
  claimsFor,
  readState,
  releaseClaim,
  requireState,
  stateProcs,
  withLock,
  writeState,
  type HostState,
  type RepositoryMode,
  type SandboxState,
} from "./state";
import { assertDebianVersion, assertHostName, assertSandboxDir, preflight, sortVersions } from "./validate";
import {
  exists,
  isAlive,
  killProcs,
  listPids,
  mapLimit,
  mountNamespace,
  probeTcp,
  procOf,
  readCmdline,
  rssKb,
  run,
  tcpListeners,
  type Proc,
  type RunResult,
} from "./util";

export interface SandboxOptions {
  hosts: number;
  dir: string;
  versions?: string[];
  /** null = no scap installed; default: the middle published version. */
  installed?: string | null;
}

export interface SandboxHost {
  name: string;
  address: string;
  port: number;
  root: string;
}

export interface Sandbox {
  dir: string;
  configPath: string;
  repoUrl: string;
  suite: string;
  component: string;
  architecture: string;
  /** Armored public key of the repository signer. */
  keyringPath: string;
  /** The same key, binary, as apt's Signed-By uses it. */
  keyringBinaryPath: string;
  /** Armored public key of the second signer (the one the "other-key" fault signs with). */
  otherKeyPath: string;
  privateKeyPath: string;
  knownHostsPath: string;
  hosts: SandboxHost[];
  /** Published versions, ascending Debian order. */
  versions: string[];
}

export const DEFAULT_VERSIONS = [
  "4.79.0-1+0~20261101080000.3~1.gbp000aaa",
  "4.80.0-1+0~20261120093000.1~1.gbpabc123",
  "4.81.0-1+0~20261124120000.7~1.gbpdef456",
];
export const MAX_HOSTS = 200;
export const DEFAULT_SLOW_DELAY_MS = 3000;

const logsDir = (dir: string) => path.join(dir, "logs");
const modeFile = (dir: string) => path.join(dir, "repo-mode.json");
const sudoersDir = (dir: string) => path.join(dir, "sudoers.d");

/** Entries `up` creates in DIR; only these are removed when a DIR is reused. */
const OWNED_ENTRIES = [
  "hosts",
  "host-template",
  "repo",
  "repo-good",
  "repo-staging",
  "debs",
  "gnupg",
  "logs",
  "sudoers.d",
  "repo-mode.json",
  "repository-key.asc",
  "repository-key.gpg",
  "other-key.asc",
  "id_ed25519",
  "id_ed25519.pub",
  "known_hosts",
  "config.yaml",
  "state.json",
];

function toSandbox(s: SandboxState): Sandbox {
  return {
    dir: s.dir,
    configPath: s.configPath,
    repoUrl: s.repo.url,
    suite: s.repo.suite,
    component: s.repo.component,
    architecture: s.repo.architecture,
    keyringPath: s.repo.keyringPath,
    keyringBinaryPath: s.repo.keyringBinaryPath,
    otherKeyPath: s.repo.otherKeyPath,
    privateKeyPath: s.ssh.privateKeyPath,
    knownHostsPath: s.ssh.knownHostsPath,
    hosts: s.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, root: h.root })),
    versions: [...s.repo.published],
  };
}

const layoutOf = (s: SandboxState): RepoLayout => ({ dir: s.dir, root: s.repo.root, gnupgHome: s.repo.gnupgHome, signer: s.repo.signer, other: s.repo.other });

function findHost(state: SandboxState, name: string): HostState {
  assertHostName(name);
  const host = state.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`no host ${name} in this sandbox (hosts: ${state.hosts.map((h) => h.name).join(", ")})`);
  return host;
}

/** Keeps a caller's Sandbox object in step with state changes made through it. */
function refresh(sb: Sandbox, state: SandboxState): void {
  sb.versions.splice(0, sb.versions.length, ...state.repo.published);
}

function octetBusy(octet: number): boolean {
  const prefix = `127.0.${octet}.`;
  return tcpListeners().some((l) => l.address.startsWith(prefix));
}

// ---- up --------------------------------------------------------------------------------------

export async function up(opts: SandboxOptions): Promise<Sandbox> {
  preflight();
  const dir = assertSandboxDir(opts.dir);
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new Error(`hosts must be an integer from 1 to ${MAX_HOSTS} (one 127.0.X.0/24 block per sandbox)`);
  }
  const versions = await sortVersions(opts.versions ?? DEFAULT_VERSIONS);
  if (versions.length === 0) throw new Error("at least one version must be published");
  const installed = opts.installed === undefined ? versions[Math.floor((versions.length - 1) / 2)]! : opts.installed;
  if (installed !== null && !versions.includes(installed)) {
    throw new Error(`installed version ${installed} is not one of the published versions (${versions.join(", ")})`);
  }

  return withLock(dir, async () => {
    await downLocked(dir);
    for (const e of OWNED_ENTRIES) await fsp.rm(path.join(dir, e), { recursive: true, force: true });
    await fsp.mkdir(logsDir(dir), { recursive: true });

    const { octet, claimPath } = claimOctet(dir, octetBusy);
    const state: SandboxState = {
      format: 1,
      dir,
      createdAt: new Date().toISOString(),
      phase: "starting",
      octet,
      claimPath,
      configPath: path.join(dir, "config.yaml"),
      repo: {
        root: repoRoot(dir),
        url: "",
        port: 0,
        server: null,
        mode: "up",
        delayMs: DEFAULT_SLOW_DELAY_MS,
        suite: SUITE,
        component: COMPONENT,
        architecture: ARCHITECTURE,
        gnupgHome: "",
        signer: "",
        other: "",
        keyringPath: "",
        keyringBinaryPath: "",
        otherKeyPath: "",
        published: versions,
        tampered: null,
      },
      ssh: {
        privateKeyPath: path.join(dir, "id_ed25519"),
        publicKeyPath: path.join(dir, "id_ed25519.pub"),
        knownHostsPath: path.join(dir, "known_hosts"),
      },
      installed,
      hosts: [],
    };
    try {
      await writeState(state);
      const [keys] = await Promise.all([
        createKeys(dir),
        run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "scap-sandbox-client", "-f", state.ssh.privateKeyPath]),
        writeSudoers(dir),
        fsp.writeFile(modeFile(dir), JSON.stringify({ mode: "up", delayMs: DEFAULT_SLOW_DELAY_MS })),
      ]);
      Object.assign(state.repo, keys);
      await writeState(state);
      await publishIndex(layoutOf(state), versions);

      const server = await startRepoServer({ root: repoRoot(dir), modeFile: modeFile(dir), logDir: logsDir(dir) });
      state.repo.server = server.proc;
      state.repo.port = server.port;
      state.repo.url = `http://127.0.0.1:${server.port}/`;
      await writeState(state);

      const ctx: HostContext = {
        dir,
        repoUrl: state.repo.url,
        keyringBinaryPath: keys.keyringBinaryPath,
        clientPublicKeyPath: state.ssh.publicKeyPath,
        sudoersDir: sudoersDir(dir),
        logsDir: logsDir(dir),
      };
      const template = await buildTemplate(ctx, installed);

      state.hosts = Array.from({ length: opts.hosts }, (_, i) => {
        const name = hostName(i + 1, opts.hosts);
        return { name, address: `127.0.${octet}.${i + 1}`, port: SSH_PORT, root: hostRoot(dir, name), sshd: null, mountNamespace: null, hang: null };
      });
      const publicKeys = await mapLimit(state.hosts, 4, async (h) => {
        await cloneTemplate(template, h.root);
        await writeHostFiles(h.root, h.address, ctx);
        return generateHostKey(h.root);
      });
      await fsp.writeFile(state.ssh.knownHostsPath, knownHostsLines(state.hosts.map((h, i) => ({ ...h, publicKey: publicKeys[i]! }))));
      for (const h of state.hosts) h.sshd = spawnSshd(h.root, h.name, ctx);
      await writeState(state);

      await mapLimit(state.hosts, 32, (h) => waitForBanner(h, h.sshd, 30_000, ctx.logsDir));
      for (const h of state.hosts) h.mountNamespace = mountNamespace(h.sshd!.pid);
      // One real login per host: key, known_hosts entry and the session environment all work.
      await mapLimit(state.hosts, 6, async (h) => {
        // 255 is ssh's own failure (e.g. a slow handshake on a busy machine): worth another try.
        for (let attempt = 1; ; attempt++) {
          const r = await sshExec(state.ssh, h.address, h.port, 'test -n "$APT_CONFIG" && test -x /usr/bin/apt-get', { connectTimeoutSeconds: 15 });
          if (r.code === 0) return;
          if (r.code !== 255 || attempt === 3) throw new Error(`${h.name}: ssh check failed (exit ${r.code}): ${r.stderr.trim()}`);
        }
      });

      await writeConfig(state);
      state.phase = "running";
      await writeState(state);
      return toSandbox(state);
    } catch (e) {
      await downLocked(dir).catch(() => {});
      throw e;
    }
  });
}

async function writeConfig(state: SandboxState): Promise<void> {
  const n = state.hosts.length;
  const config = {
    repository: {
      url: state.repo.url,
      suite: state.repo.suite,
      component: state.repo.component,
      architecture: state.repo.architecture,
      package: PACKAGE,
      keyring: state.repo.keyringPath,
    },
    ssh: {
      user: "root",
      privateKeyPath: state.ssh.privateKeyPath,
      knownHostsPath: state.ssh.knownHostsPath,
      concurrency: Math.min(50, n),
      connectTimeoutSeconds: 5,
      commandTimeoutSeconds: 120,
    },
    hosts: state.hosts.map((h) => ({ name: h.name, address: h.address })),
    channels: [
      { name: "canary", hosts: [state.hosts[0]!.name], batchSize: 1, maxFailures: 0 },
      { name: "beta", hosts: "all", requires: "canary", batchSize: Math.max(1, Math.ceil(n / 5)), maxFailures: 1 },
    ],
  };
  const parsed = configSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(`generated config does not satisfy lib/config-schema.ts: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const header = `# Sandbox beta cluster in ${state.dir} (127.0.${state.octet}.0/24); written by e2e/sandbox — regenerated on every up.\n`;
  await fsp.writeFile(state.configPath, header + YAML.stringify(config));
}

// ---- down / load -----------------------------------------------------------------------------

function environOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "utf8");
  } catch {
    return "";
  }
}

function ancestors(): Set<number> {
  const out = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      break;
    }
  }
  return out;
}

/**
 * Processes of this DIR that state.json may not know: a run killed between spawning and
 * recording, or a state file lost. Matched by what only they carry: an sshd_config, repository
 * root or host root under DIR in their command line, or a host's APT_CONFIG in their environment.
 */
function strayProcesses(dir: string): Proc[] {
  const mine = ancestors();
  const hosts = `${dir}/hosts/`;
  const out = new Map<number, Proc>();
  const namespaces = new Set<string>();
  for (const pid of listPids()) {
    if (mine.has(pid)) continue;
    const cmd = readCmdline(pid);
    const line = cmd.join(" ");
    const isSshd = cmd[0] === "/usr/sbin/sshd" && line.includes(` -f ${hosts}`);
    const isServer = line.includes("repo-server.ts") && line.includes(`--root ${dir}/repo `);
    const isHang = cmd.includes("scap-sandbox-hang") && line.includes(hosts);
    const isSession = environOf(pid).includes(`APT_CONFIG=${dir}/`);
    if (isSshd || isServer || isHang || isSession) {
      const p = procOf(pid);
      if (p) out.set(pid, p);
      if (isSshd) {
        const ns = mountNamespace(pid);
        if (ns) namespaces.add(ns);
      }
    }
  }
  if (namespaces.size) {
    for (const pid of listPids()) {
      if (mine.has(pid) || out.has(pid)) continue;
      const ns = mountNamespace(pid);
      if (ns && namespaces.has(ns)) {
        const p = procOf(pid);
        if (p) out.set(pid, p);
      }
    }
  }
  return [...out.values()];
}

async function downLocked(dir: string): Promise<void> {
  let state: SandboxState | null = null;
  try {
    state = await readState(dir);
  } catch {
    // unreadable state: the /proc scan below still finds what belongs to DIR
  }
  const procs = new Map<number, Proc>();
  if (state) {
    const index = namespaceIndex();
    for (const h of state.hosts) for (const p of hostProcesses(h, index)) procs.set(p.pid, p);
    for (const p of stateProcs(state)) if (isAlive(p)) procs.set(p.pid, p);
  }
  for (const p of strayProcesses(dir)) procs.set(p.pid, p);
  await killProcs([...procs.values()]);
  if (state) {
    const listening = await mapLimit(state.hosts, 32, async (h) => ((await probeTcp(h.address, h.port, 500)) === "refused" ? null : h.name));
    const left = listening.filter(Boolean);
    if (left.length) throw new Error(`still accepting connections after down: ${left.join(", ")}`);
    if (state.repo.gnupgHome && (await exists(state.repo.gnupgHome))) {
      await stopAgent(state.repo.gnupgHome);
      if (!state.repo.gnupgHome.startsWith(dir + "/")) await fsp.rm(state.repo.gnupgHome, { recursive: true, force: true });
    }
    releaseClaim(state.claimPath, dir);
  } else if (await exists(path.join(dir, "gnupg"))) {
    await stopAgent(path.join(dir, "gnupg"));
  }
  for (const claim of claimsFor(dir)) releaseClaim(claim, dir);
  await fsp.rm(path.join(dir, "state.json"), { force: true });
}

/** Stops every process the sandbox in DIR started (by PID), releases its address block. */
export async function down(dir: string): Promise<void> {
  const abs = assertSandboxDir(dir);
  if (!(await exists(abs))) {
    // No folder, no state: only processes whose folder was deleted under them can be left.
    await killProcs(strayProcesses(abs));
    for (const claim of claimsFor(abs)) releaseClaim(claim, abs);
    return;
  }
  await withLock(abs, () => downLocked(abs));
}

export async function load(dir: string): Promise<Sandbox> {
  const state = await requireState(assertSandboxDir(dir));
  if (state.phase !== "running") throw new Error(`the sandbox in ${state.dir} is not running (phase ${state.phase}); run up again`);
  return toSandbox(state);
}

// ---- host faults -----------------------------------------------------------------------------

async function mutate<T>(sb: Sandbox, fn: (state: SandboxState) => Promise<T>): Promise<T> {
  return withLock(sb.dir, async () => {
    const state = await requireState(sb.dir);
    try {
      return await fn(state);
    } finally {
      await writeState(state);
      refresh(sb, state);
    }
  });
}

async function startSshd(state: SandboxState, host: HostState): Promise<void> {
  host.sshd = spawnSshd(host.root, host.name, { sudoersDir: sudoersDir(state.dir), logsDir: logsDir(state.dir) });
  await waitForBanner(host, host.sshd, 15_000, logsDir(state.dir));
  host.mountNamespace = mountNamespace(host.sshd.pid);
}

/** sshd stopped (with its sessions): connections are refused. */
export async function stopHost(sb: Sandbox, name: string): Promise<void> {
  await mutate(sb, async (state) => stopHostProcesses(findHost(state, name)));
}

/** A real sshd listening again; undoes hangHost and stopHost. */
export async function startHost(sb: Sandbox, name: string): Promise<void> {
  await mutate(sb, async (state) => {
    const host = findHost(state, name);
    if (isAlive(host.hang)) {
      await killProcs([host.hang!]);
      host.hang = null;
    }
    if (isAlive(host.sshd)) return waitForBanner(host, host.sshd, 15_000, logsDir(state.dir));
    await stopHostProcesses(host);
    await startSshd(state, host);
  });
}

/** A listener on the host's address:port that accepts TCP and never speaks. */
export async function hangHost(sb: Sandbox, name: string): Promise<void> {
  await mutate(sb, async (state) => {
    const host = findHost(state, name);
    await stopHostProcesses(host);
    host.hang = await startHangListener(host, logsDir(state.dir));
  });
}

/** A new host key and a restarted sshd; known_hosts keeps the old key. */
export async function changeHostKey(sb: Sandbox, name: string): Promise<void> {
  await mutate(sb, async (state) => {
    const host = findHost(state, name);
    await stopHostProcesses(host);
    await saveOriginalHostKey(host.root);
    await generateHostKey(host.root);
    await startSshd(state, host);
  });
}

/** Undoes changeHostKey: the key in known_hosts again, sshd restarted. */
export async function restoreHostKey(sb: Sandbox, name: string): Promise<void> {
  await mutate(sb, async (state) => {
    const host = findHost(state, name);
    await stopHostProcesses(host);
    await restoreOriginalHostKey(host.root);
    await startSshd(state, host);
  });
}

// ---- repository ------------------------------------------------------------------------------

export async function setRepositoryMode(sb: Sandbox, mode: RepositoryMode, opts: { delayMs?: number } = {}): Promise<void> {
  if (!["up", "down", "slow", "hang"].includes(mode)) throw new Error(`unknown repository mode ${String(mode)}`);
  const delayMs = opts.delayMs ?? DEFAULT_SLOW_DELAY_MS;
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 600_000) throw new Error("delayMs must be an integer from 0 to 600000");
  await mutate(sb, async (state) => {
    if (!isAlive(state.repo.server)) throw new Error("the repository server is not running; run up again");
    await applyRepoMode(state.repo.server!, state.repo.port, modeFile(state.dir), { mode, delayMs });
    state.repo.mode = mode;
    state.repo.delayMs = delayMs;
  });
}

/** Corrupts the served repository one way, on top of the last good state. */
export async function tamperRepository(sb: Sandbox, what: RepositoryFault, opts: { version?: string } = {}): Promise<void> {
  if (opts.version !== undefined) assertDebianVersion(opts.version);
  await mutate(sb, async (state) => {
    await tamper(layoutOf(state), state.repo.published, what, opts.version);
    state.repo.tampered = what;
  });
}

export async function restoreRepository(sb: Sandbox): Promise<void> {
  await mutate(sb, async (state) => {
    await restore(layoutOf(state), state.repo.published);
    state.repo.tampered = null;
  });
}

/**
 * What CI does when scap merges: build the deb, add it to the pool, re-index, re-sign.
 * `failingPostinst`: the build's maintainer script fails (dpkg exits 1, the package stays half-configured).
 */
export async function publishBuild(sb: Sandbox, version: string, opts: { failingPostinst?: boolean } = {}): Promise<void> {
  assertDebianVersion(version);
  if (opts.failingPostinst) await buildDeb(sb.dir, version, { failingPostinst: true });
  await mutate(sb, async (state) => {
    const published = await sortVersions([...state.repo.published, version]);
    await publishIndex(layoutOf(state), published);
    state.repo.published = published;
    state.repo.tampered = null;
  });
}

/** Drops a version from the pool and the index, re-signs. */
export async function removeBuild(sb: Sandbox, version: string): Promise<void> {
  assertDebianVersion(version);
  await mutate(sb, async (state) => {
    if (!state.repo.published.includes(version)) throw new Error(`version ${version} is not published`);
    const published = state.repo.published.filter((v) => v !== version);
    await publishIndex(layoutOf(state), published);
    state.repo.published = published;
    state.repo.tampered = null;
  });
}

// ---- installed versions ----------------------------------------------------------------------

async function hostOf(sb: Sandbox, name: string): Promise<HostState> {
  return findHost(await requireState(sb.dir), name);
}

/**
 * Changes a host's scap behind the dashboard's back, with that host's own dpkg database and root:
 * installs the version's deb (built if it was never published) or purges scap.
 */
export async function setInstalled(sb: Sandbox, name: string, version: string | null): Promise<void> {
  const host = await hostOf(sb, name);
  const dpkg = ["--root", host.root, "--admindir", path.join(host.root, "var/lib/dpkg"), "--log", path.join(host.root, "var/log/dpkg.log")];
  let r: RunResult;
  if (version === null) {
    r = await run("dpkg", [...dpkg, "--purge", PACKAGE], { env: hostEnv(host.root), allowFail: true });
  } else {
    assertDebianVersion(version);
    const deb = await buildDeb(sb.dir, version);
    r = await run("dpkg", [...dpkg, "--install", deb], { env: hostEnv(host.root), allowFail: true });
  }
  if (r.code !== 0) throw new Error(`${name}: dpkg exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  const now = await installedVersion(sb, name);
  if (now !== version) throw new Error(`${name}: expected ${version ?? "no scap"} after dpkg, found ${now ?? "no scap"}`);
}

/** What dpkg-query reports on that host (its own database); null when scap is not installed. */
export async function installedVersion(sb: Sandbox, name: string): Promise<string | null> {
  const host = await hostOf(sb, name);
  const r = await run("dpkg-query", ["--admindir", path.join(host.root, "var/lib/dpkg"), "-W", "-f", "${Status}\t${Version}", PACKAGE], {
    env: hostEnv(host.root),
    allowFail: true,
  });
  if (r.code === 1) return null;
  if (r.code !== 0) throw new Error(`${name}: dpkg-query exited ${r.code}: ${r.stderr.trim()}`);
  const [status, version] = r.stdout.split("\t");
  return status?.endsWith(" installed") && version ? version : null;
}

// ---- helpers for tests, demo and benchmarks --------------------------------------------------

/** Runs a command on a host with the OpenSSH client, the sandbox key and known_hosts (never shell-interpreted locally). */
export async function sshCommand(sb: Sandbox, name: string, command: string, opts: { connectTimeoutSeconds?: number; timeoutMs?: number } = {}): Promise<RunResult> {
  const host = sb.hosts.find((h) => h.name === assertHostName(name));
  if (!host) throw new Error(`no host ${name} in this sandbox`);
  return sshExec({ privateKeyPath: sb.privateKeyPath, knownHostsPath: sb.knownHostsPath }, host.address, host.port, command, opts);
}

export interface HostStatus {
  name: string;
  address: string;
  sshd: "running" | "stopped" | "hung";
  installed: string | null;
}

export interface SandboxStatus {
  repoUrl: string;
  repoMode: RepositoryMode;
  repoServer: "running" | "stopped";
  tampered: string | null;
  versions: string[];
  hosts: HostStatus[];
  processes: number;
  rssKb: number;
}

/** Every live process of the sandbox: repository server, sshd listeners and their sessions, hang listeners. */
export async function sandboxProcesses(sb: Sandbox): Promise<Proc[]> {
  const state = await requireState(sb.dir);
  const procs = new Map<number, Proc>();
  if (isAlive(state.repo.server)) procs.set(state.repo.server!.pid, state.repo.server!);
  const index = namespaceIndex();
  for (const h of state.hosts) for (const p of hostProcesses(h, index)) procs.set(p.pid, p);
  return [...procs.values()];
}

/**
 * What runs on a host besides its sshd listener (and a hang listener): sessions and the commands
 * they started, each with its command line. Empty when nothing runs there.
 */
export async function hostCommands(sb: Sandbox, name: string): Promise<{ pid: number; cmdline: string }[]> {
  const host = await hostOf(sb, name);
  const listeners = new Set([host.sshd?.pid, host.hang?.pid]);
  return hostProcesses(host)
    .filter((p) => !listeners.has(p.pid))
    .map((p) => ({ pid: p.pid, cmdline: readCmdline(p.pid).join(" ") }))
    .filter((p) => p.cmdline !== "");
}

export async function status(sb: Sandbox): Promise<SandboxStatus> {
  const state = await requireState(sb.dir);
  const hosts: HostStatus[] = [];
  for (const h of state.hosts) {
    hosts.push({
      name: h.name,
      address: h.address,
      sshd: isAlive(h.hang) ? "hung" : isAlive(h.sshd) ? "running" : "stopped",
      installed: await installedVersion(sb, h.name),
    });
  }
  const procs = await sandboxProcesses(sb);
  return {
    repoUrl: state.repo.url,
    repoMode: state.repo.mode,
    repoServer: isAlive(state.repo.server) ? "running" : "stopped",
    tampered: state.repo.tampered,
    versions: state.repo.published,
    hosts,
    processes: procs.length,
    rssKb: procs.reduce((sum, p) => sum + rssKb(p.pid), 0),
  };
}
