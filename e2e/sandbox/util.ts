// Process, file and network helpers shared by the sandbox modules. Every external command goes
// through `run` with an argument array, so no value ever passes through a shell.
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import path from "node:path";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string | Buffer;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  timeoutMs?: number;
  /** Capture stdout as bytes (base64 in `stdout`) — for binary outputs such as compressed files. */
  binary?: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly command: string[],
    readonly result: RunResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split("\n").slice(-8).join("\n");
    super(`${command.join(" ")} failed (${result.signal ?? `exit ${result.code}`})${tail ? `:\n${tail}` : ""}`);
    this.name = "CommandError";
  }
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: (opts.env ?? process.env) as NodeJS.ProcessEnv,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stdoutBuf = Buffer.concat(out);
      const result: RunResult = {
        code,
        signal,
        stdout: opts.binary ? stdoutBuf.toString("base64") : stdoutBuf.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (code !== 0 && !opts.allowFail) reject(new CommandError([cmd, ...args], result));
      else resolve(result);
    });
    if (opts.input !== undefined) {
      child.stdin!.on("error", () => {});
      child.stdin!.end(opts.input);
    }
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `limit` running at once; results keep input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return results;
}

// ---- processes -------------------------------------------------------------------------------

/** A process identified by PID plus its kernel start time, so a recycled PID is never mistaken for ours. */
export interface Proc {
  pid: number;
  start: string;
}

export function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces and parentheses); starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export function procOf(pid: number): Proc | null {
  const start = procStart(pid);
  return start === null ? null : { pid, start };
}

export function isAlive(p: Proc | null | undefined): p is Proc {
  return !!p && procStart(p.pid) === p.start;
}

export function listPids(): number[] {
  return fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

export function readCmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

export function mountNamespace(pid: number): string | null {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}

export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size: shared pages split among the processes sharing them, so sums are honest. */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once every process is gone. */
export async function killProcs(procs: Proc[], graceMs = 3000): Promise<void> {
  const live = procs.filter(isAlive);
  if (live.length === 0) return;
  const signal = (sig: NodeJS.Signals) => {
    for (const p of live) {
      if (!isAlive(p)) continue;
      try {
        process.kill(p.pid, sig);
      } catch {
        // already gone
      }
    }
  };
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < deadline) await sleep(25);
  if (live.some(isAlive)) {
    signal("SIGKILL");
    const hard = Date.now() + 5000;
    while (live.some(isAlive) && Date.now() < hard) await sleep(25);
  }
  const left = live.filter(isAlive);
  if (left.length) throw new Error(`processes still running after SIGKILL: ${left.map((p) => p.pid).join(", ")}`);
}

// ---- files -----------------------------------------------------------------------------------

/**
 * Replaces a file atomically and gives it an mtime at least one whole second after the previous
 * version's: HTTP Last-Modified has one-second resolution, and a client holding the old copy
 * would otherwise get 304 for changed content written within the same second.
 */
export async function atomicWrite(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  let prevSec = 0;
  try {
    prevSec = Math.floor((await fsp.stat(file)).mtimeMs / 1000);
  } catch {
    // new file
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  await fsp.writeFile(tmp, data, { mode });
  const t = Math.max(Math.floor(Date.now() / 1000), prevSec + 1);
  await fsp.utimes(tmp, t, t);
  await fsp.rename(tmp, file);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

// ---- network ---------------------------------------------------------------------------------

/** Connects once: "open" when accepted, "refused" when nothing listens, "timeout" otherwise. */
export function probeTcp(host: string, port: number, timeoutMs = 1000): Promise<"open" | "refused" | "timeout" | "error"> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (r: "open" | "refused" | "timeout" | "error") => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done("timeout"));
    sock.once("connect", () => done("open"));
    sock.once("error", (e: NodeJS.ErrnoException) => done(e.code === "ECONNREFUSED" ? "refused" : "error"));
  });
}

/** Resolves with the first line an SSH server sends, or null when none arrives in time. */
export function readBanner(host: string, port: number, timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = "";
    const done = (r: string | null) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(timeoutMs, () => done(null));
    sock.on("data", (b: Buffer) => {
      buf += b.toString("latin1");
      const nl = buf.indexOf("\n");
      if (nl >= 0) done(buf.slice(0, nl).trim());
    });
    sock.once("error", () => done(null));
    sock.once("end", () => done(null));
  });
}

interface Listener {
  address: string;
  port: number;
}

function parseProcNet(file: string, v6: boolean): Listener[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out: Listener[] = [];
  for (const line of text.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || cols[3] !== "0A") continue; // 0A = LISTEN
    const [hexAddr, hexPort] = cols[1]!.split(":");
    const port = parseInt(hexPort!, 16);
    let address: string;
    if (!v6) {
      const n = parseInt(hexAddr!, 16);
      address = [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join(".");
    } else {
      // Only the wildcard matters here: a dual-stack [::]:22 listener would also catch 127.0.X.i:22.
      address = /^0+$/.test(hexAddr!) ? "::" : "v6";
    }
    out.push({ address, port });
  }
  return out;
}

/** TCP listeners on this machine (its own network namespace), from /proc/net. */
export function tcpListeners(): Listener[] {
  return [...parseProcNet("/proc/net/tcp", false), ...parseProcNet("/proc/net/tcp6", true)];
}
