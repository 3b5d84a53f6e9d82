// DIR/state.json (what load/down/fault switches need) and the lock that serialises changes to it.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { isAlive, procOf, sleep, type Proc } from "./util";

export type RepositoryMode = "up" | "down" | "slow" | "hang";

export interface HostState {
  name: string;
  address: string;
  port: number;
  root: string;
  /** The host's sshd listener; its sessions live in the same mount namespace. */
  sshd: Proc | null;
  mountNamespace: string | null;
  /** The silent TCP listener that replaces sshd while the host is hung. */
  hang: Proc | null;
}

export interface SandboxState {
  format: 1;
  dir: string;
  createdAt: string;
  phase: "starting" | "running";
  /** Third octet of the hosts' loopback addresses, claimed in the machine-wide registry. */
  octet: number;
  claimPath: string;
  configPath: string;
  repo: {
    root: string;
    url: string;
    port: number;
    server: Proc | null;
    mode: RepositoryMode;
    delayMs: number;
    suite: string;
    component: string;
    architecture: string;
    gnupgHome: string;
    signer: string;
    other: string;
    keyringPath: string;
    keyringBinaryPath: string;
    otherKeyPath: string;
    /** Published versions, ascending Debian order. */
    published: string[];
    /** Fault applied on top of the published state, if any. */
    tampered: string | null;
  };
  ssh: { privateKeyPath: string; publicKeyPath: string; knownHostsPath: string };
  installed: string | null;
  hosts: HostState[];
}

export const statePath = (dir: string) => path.join(dir, "state.json");

export async function readState(dir: string): Promise<SandboxState | null> {
  let text: string;
  try {
    text = await fsp.readFile(statePath(dir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const state = JSON.parse(text) as SandboxState;
  if (state.format !== 1) throw new Error(`${statePath(dir)}: unknown format ${String(state.format)}`);
  return state;
}

export async function requireState(dir: string): Promise<SandboxState> {
  const state = await readState(dir);
  if (!state) throw new Error(`no sandbox in ${dir} (no state.json) — start one with: npm run sandbox -- up --hosts N --dir ${dir}`);
  return state;
}

/** Every process the sandbox started that should still be running. */
export function stateProcs(state: SandboxState): Proc[] {
  const procs: Proc[] = [];
  if (state.repo.server) procs.push(state.repo.server);
  for (const h of state.hosts) {
    if (h.sshd) procs.push(h.sshd);
    if (h.hang) procs.push(h.hang);
  }
  return procs;
}

export async function writeState(state: SandboxState): Promise<void> {
  const file = statePath(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(state, null, 2) + "\n");
  await fsp.rename(tmp, file);
  await updateClaim(state.claimPath, state.dir, stateProcs(state));
}

// ---- lock ------------------------------------------------------------------------------------

const inProcess = new Map<string, Promise<unknown>>();

/**
 * Serialises state changes to one sandbox: in this process by chaining, across processes (CLI,
 * tests, demo) with an O_EXCL lock file whose holder is checked for liveness, so a killed holder
 * never blocks the next caller.
 */
export async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const prev = inProcess.get(dir) ?? Promise.resolve();
  const next = prev.catch(() => {}).then(() => withFileLock(dir, fn));
  inProcess.set(dir, next);
  try {
    return await next;
  } finally {
    if (inProcess.get(dir) === next) inProcess.delete(dir);
  }
}

async function withFileLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  await fsp.mkdir(dir, { recursive: true });
  const lock = path.join(dir, ".lock");
  const me = procOf(process.pid)!;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.writeFileSync(lock, JSON.stringify(me), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: Proc | null = null;
      try {
        holder = JSON.parse(fs.readFileSync(lock, "utf8")) as Proc;
      } catch {
        // being written right now, or garbage left by a crash: judged by age below
      }
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if ((holder && !isAlive(holder)) || (!holder && age > 5000)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`sandbox ${dir} is locked by process ${holder?.pid ?? "?"}`);
      await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

// ---- machine-wide registry of claimed address blocks -----------------------------------------

export const REGISTRY_DIR = "/tmp/scap-sandbox-registry";

interface Claim {
  dir: string;
  owner: Proc;
  pids: Proc[];
  claimedAt: string;
}

function readClaim(file: string): Claim | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Claim;
  } catch {
    return null;
  }
}

function claimIsStale(file: string): boolean {
  const claim = readClaim(file);
  if (!claim) {
    // unreadable: a claim caught mid-write is young, a corrupt one is not
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return !!st && Date.now() - st.mtimeMs > 10_000;
  }
  return !isAlive(claim.owner) && !claim.pids.some(isAlive);
}

/**
 * Claims a free 127.0.X.0/24 block (X in 2..250) for one sandbox. A claim whose processes are all
 * dead is stale and taken over; a block with anything already listening on it is skipped.
 */
export function claimOctet(dir: string, busy: (octet: number) => boolean): { octet: number; claimPath: string } {
  fs.mkdirSync(REGISTRY_DIR, { recursive: true, mode: 0o755 });
  const me = procOf(process.pid)!;
  const claim: Claim = { dir, owner: me, pids: [], claimedAt: new Date().toISOString() };
  for (let octet = 2; octet <= 250; octet++) {
    const file = path.join(REGISTRY_DIR, `${octet}.json`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(claim), { flag: "wx" });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        if (attempt === 0 && claimIsStale(file)) {
          // rename is atomic: of two processes reclaiming at once, only one moves the file
          const grave = `${file}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
          try {
            fs.renameSync(file, grave);
            fs.rmSync(grave, { force: true });
          } catch {
            // someone else reclaimed it first
          }
          continue;
        }
        break;
      }
      if (busy(octet)) {
        // stays unclaimed for us; leave it free for whoever owns those listeners
        fs.rmSync(file, { force: true });
        break;
      }
      return { octet, claimPath: file };
    }
  }
  throw new Error(`no free 127.0.X.0/24 block in ${REGISTRY_DIR} (2..250 all claimed by live sandboxes)`);
}

async function updateClaim(file: string, dir: string, pids: Proc[]): Promise<void> {
  const claim = readClaim(file);
  if (!claim || claim.dir !== dir) return;
  claim.pids = pids;
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(claim));
  await fsp.rename(tmp, file);
}

export function releaseClaim(file: string, dir: string): void {
  const claim = readClaim(file);
  if (!claim || claim.dir !== dir) return;
  fs.rmSync(file, { force: true });
}

/** Claims left behind for this dir by a run that never wrote its state. */
export function claimsFor(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(REGISTRY_DIR);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+\.json$/.test(n))
    .map((n) => path.join(REGISTRY_DIR, n))
    .filter((f) => readClaim(f)?.dir === dir);
}
