import "server-only";
import { readFileSync, statSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { NodeSSH } from "node-ssh";
import pLimit from "p-limit";
import { addBrand, hasBrand } from "../brand";
import type { HostConfig, SshConfig } from "../config-schema";
import { entriesForHost, keyBlobType, keyFingerprint, knownHostName, parseKnownHosts, verifyHostKey, type HostKeyVerdict, type KnownHostEntry } from "./known-hosts";

export interface ExecResult {
  host: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** True when stdout or stderr went over maxOutputBytes and only its tail was kept. */
  truncated: boolean;
}

export interface ExecOptions {
  /** Overrides ssh.commandTimeoutSeconds for this command. */
  timeoutMs?: number;
  onOutput?: (chunk: string, stream: "stdout" | "stderr") => void;
  signal?: AbortSignal;
  /** Open a new connection even when an idle one to the host is kept (a reachability check). */
  fresh?: boolean;
}

export type SshErrorKind =
  | "refused"
  | "connect-timeout"
  | "command-timeout"
  | "auth"
  | "host-key-unknown"
  | "host-key-changed"
  | "host-key-revoked"
  | "dns"
  | "network"
  | "protocol"
  | "cancelled";

/** Kinds that mean the host could not be reached or trusted (no command ran). */
export const CONNECT_ERROR_KINDS: ReadonlySet<SshErrorKind> = new Set([
  "refused",
  "connect-timeout",
  "auth",
  "host-key-unknown",
  "host-key-changed",
  "host-key-revoked",
  "dns",
  "network",
]);

export class SshError extends Error {
  readonly kind: SshErrorKind;
  readonly host: string;
  /** The command with secret-looking values masked; null when the failure came before it ran. */
  readonly command: string | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdoutTail: string;
  readonly stderrTail: string;
  readonly durationMs: number;

  constructor(init: {
    kind: SshErrorKind;
    host: string;
    message: string;
    command?: string | null;
    exitCode?: number | null;
    signal?: string | null;
    stdout?: string;
    stderr?: string;
    durationMs: number;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "SshError";
    this.kind = init.kind;
    this.host = init.host;
    this.command = init.command == null ? null : redactCommand(init.command);
    this.exitCode = init.exitCode ?? null;
    this.signal = init.signal ?? null;
    this.stdoutTail = tail(init.stdout ?? "", ERROR_TAIL_CHARS);
    this.stderrTail = tail(init.stderr ?? "", ERROR_TAIL_CHARS);
    this.durationMs = init.durationMs;
    addBrand(this, "SshError");
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, "SshError");
  }
}

export interface FleetTransport {
  exec(host: HostConfig, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Closes idle connections now and the others when their command ends; later exec calls fail. */
  close(): Promise<void>;
}

export interface TransportOptions {
  /** How long an idle connection is kept for the next command to the host; 0 closes it after each command. */
  idleMs?: number;
}

const ERROR_TAIL_CHARS = 2000;
const DEFAULT_IDLE_MS = 30_000;
const SIGNAL_GRACE_MS = 250;

function tail(text: string, max: number): string {
  return text.length <= max ? text : text.slice(text.length - max);
}

/** Masks values that look like credentials so a command can go into logs and error messages. */
export function redactCommand(command: string): string {
  const masked = command
    .replace(/\b([A-Za-z0-9_]*(?:pass(?:word)?|token|secret|api[_-]?key)[A-Za-z0-9_]*=)('[^']*'|"[^"]*"|\S+)/gi, "$1***")
    .replace(/(--?(?:pass(?:word)?|token|secret)[= ])('[^']*'|"[^"]*"|\S+)/gi, "$1***");
  return masked.length > 500 ? `${masked.slice(0, 500)}…` : masked;
}

// --- output -------------------------------------------------------------------------------------

/** Keeps the last `max` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}

  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.max;
      this.truncated = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  text(): string {
    let buf = Buffer.concat(this.chunks);
    // A cut can land inside a UTF-8 sequence; drop its orphaned continuation bytes.
    if (this.truncated) {
      let i = 0;
      while (i < buf.length && i < 3 && (buf[i]! & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString("utf8");
  }
}

// --- per-host sessions ----------------------------------------------------------------------------

// One session per host across the whole process, whichever transport or caller asks: two apt runs
// on one host fail on dpkg's lock, and a probe must not read a half-installed state.
class HostLocks {
  private tails = new Map<string, Promise<void>>();

  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    if (!signal) {
      await prev;
      return release;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        void prev.then(() => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    } catch (e) {
      // Hand the turn on once the holder is done, so later waiters still run in order.
      void prev.then(release);
      throw e;
    }
    return release;
  }
}

const globalForSsh = globalThis as unknown as {
  scapHostLocks?: HostLocks;
  scapFleetTransport?: { key: string; transport: FleetTransport };
};

function hostLocks(): HostLocks {
  return (globalForSsh.scapHostLocks ??= new HostLocks());
}

// --- ssh2 surface ---------------------------------------------------------------------------------

// The parts of ssh2's Client and channels used here (@types/ssh2 is not installed).
interface Ssh2Channel extends Duplex {
  stderr: Readable;
  close(): void;
  signal(name: string): void;
  outgoing?: { id: number; state: string };
  _client?: { _protocol?: { signal(id: number, name: string): void } };
}
interface Ssh2Client {
  exec(command: string, cb: (err: Error | undefined, channel: Ssh2Channel) => void): void;
  forwardOut(srcIP: string, srcPort: number, dstIP: string, dstPort: number, cb: (err: Error | undefined, stream: Duplex) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  on(event: "close" | "end", listener: () => void): void;
  end(): void;
}

interface Connection {
  key: string;
  ssh: NodeSSH;
  client: Ssh2Client;
  sock: Socket | Duplex;
  alive: boolean;
  /** Running a command (its socket keeps the process alive) rather than parked. */
  active: boolean;
  knownHostsGen: number;
  idleTimer?: NodeJS.Timeout;
  /** Target connections tunnelled through this one, and how many of them run a command (bastions only). */
  children: number;
  activeChildren: number;
  via?: Connection;
}

interface Endpoint {
  /** Name used in messages and results. */
  label: string;
  /** Names the host key may be listed under. */
  names: string[];
  address: string;
  port: number;
  user: string;
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

function algorithmsForKeyType(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

interface ErrnoLike extends Error {
  code?: string | number;
  level?: string;
}

/** `promise`, or the error `onAbort` makes as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener("abort", abort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", abort);
        reject(e);
      },
    );
  });
}

// --- transport ------------------------------------------------------------------------------------

export function createFleetTransport(ssh: SshConfig, options: TransportOptions = {}): FleetTransport {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const connectTimeoutMs = Math.round(ssh.connectTimeoutSeconds * 1000);
  const limit = pLimit(ssh.concurrency);
  const pool = new Map<string, Connection>();
  let bastion: Promise<Connection> | null = null;
  let closed = false;

  let privateKey: string | null = null;
  function readPrivateKey(): string {
    // Read once; the key text never goes into a message or a log line.
    if (privateKey === null) privateKey = readFileSync(ssh.privateKeyPath, "utf8");
    return privateKey;
  }

  let knownHosts: { mtimeMs: number; size: number; entries: KnownHostEntry[]; gen: number; missing: boolean } | null = null;
  function currentKnownHosts() {
    let st: { mtimeMs: number; size: number } | null = null;
    try {
      st = statSync(ssh.knownHostsPath);
    } catch {
      st = null;
    }
    const mtimeMs = st?.mtimeMs ?? -1;
    const size = st?.size ?? -1;
    if (!knownHosts || knownHosts.mtimeMs !== mtimeMs || knownHosts.size !== size) {
      let entries: KnownHostEntry[] = [];
      let missing = st === null;
      if (!missing) {
        try {
          entries = parseKnownHosts(readFileSync(ssh.knownHostsPath, "utf8"));
        } catch {
          missing = true;
        }
      }
      // A new generation retires kept connections: they were verified against the old file.
      knownHosts = { mtimeMs, size, entries, gen: (knownHosts?.gen ?? 0) + 1, missing };
    }
    return knownHosts;
  }

  function endpointOf(host: HostConfig): Endpoint {
    const address = host.address ?? host.name;
    return { label: host.name, names: [...new Set([host.name, address])], address, port: host.port ?? ssh.port, user: ssh.user };
  }

  function bastionEndpoint(): Endpoint | null {
    const j = ssh.jumpHost;
    if (!j) return null;
    return { label: `jump host ${j.host}`, names: [j.host], address: j.host, port: j.port, user: j.user ?? ssh.user };
  }

  function destroy(conn: Connection) {
    if (!conn.alive) return;
    conn.alive = false;
    clearTimeout(conn.idleTimer);
    if (pool.get(conn.key) === conn) pool.delete(conn.key);
    setRef(conn, false);
    try {
      conn.client.end();
    } catch {
      // Already gone.
    }
    conn.sock.destroy();
    if (conn.via) {
      conn.via.children--;
      parkBastion(conn.via);
    }
  }

  function parkBastion(b: Connection) {
    if (b.children > 0 || !b.alive) return;
    refSocket(b.sock, false);
    clearTimeout(b.idleTimer);
    b.idleTimer = setTimeout(() => {
      if (b.children === 0) destroy(b);
    }, idleMs);
    b.idleTimer.unref();
  }

  function park(conn: Connection) {
    if (!conn.alive) return;
    if (closed || idleMs <= 0 || conn.knownHostsGen !== currentKnownHosts().gen) return destroy(conn);
    pool.set(conn.key, conn);
    setRef(conn, false);
    conn.idleTimer = setTimeout(() => destroy(conn), idleMs);
    conn.idleTimer.unref();
  }

  // Idle connections must not keep a script's process alive; a tunnelled one is carried by its bastion's socket.
  function setRef(conn: Connection, active: boolean) {
    if (conn.active === active) return;
    conn.active = active;
    if (conn.via) {
      conn.via.activeChildren += active ? 1 : -1;
      refSocket(conn.via.sock, conn.via.activeChildren > 0);
    } else {
      refSocket(conn.sock, active);
    }
  }

  function refSocket(sock: Socket | Duplex, ref: boolean) {
    const s = sock as Partial<Socket>;
    if (ref) s.ref?.();
    else s.unref?.();
  }

  function connectError(ep: Endpoint, err: ErrnoLike, startedAt: number, verdict: { verdict: HostKeyVerdict; key: Buffer } | null, via?: string): SshError {
    const durationMs = Date.now() - startedAt;
    const where = `${ep.address}:${ep.port}${via ? ` via ${via}` : ""}`;
    const make = (kind: SshErrorKind, message: string) => new SshError({ kind, host: ep.label, message: `${ep.label}: ${message}`, durationMs, cause: err });
    if (verdict) {
      const type = keyBlobType(verdict.key) ?? "unknown-type";
      const fp = keyFingerprint(verdict.key);
      const name = knownHostName(ep.names[ep.names.length - 1]!, ep.port);
      if (verdict.verdict === "unknown") {
        return make(
          "host-key-unknown",
          `host key is unknown (${type} ${fp} at ${where}); it is not in ${ssh.knownHostsPath}. ` +
            `Check the fingerprint with the host's owner, then add the key: ssh-keyscan -p ${ep.port} -t ${type} ${ep.address} >> ${ssh.knownHostsPath}`,
        );
      }
      if (verdict.verdict === "changed") {
        const lines = entriesForHost(currentKnownHosts().entries, ep.names, ep.port).map((e) => e.line);
        return make(
          "host-key-changed",
          `host key CHANGED: ${where} presented ${type} ${fp}, which does not match ${ssh.knownHostsPath} line ${lines.join(", ")}. ` +
            `Refused: this is either a reinstalled host or someone intercepting the connection. If the change is expected, ` +
            `remove the old key (ssh-keygen -R '${name}' -f ${ssh.knownHostsPath}) and add the new one after checking its fingerprint.`,
        );
      }
      return make("host-key-revoked", `host key ${type} ${fp} at ${where} is marked @revoked in ${ssh.knownHostsPath}; refused.`);
    }
    const code = String(err.code ?? "");
    const connectTimeoutS = connectTimeoutMs / 1000;
    if (code === "ECONNREFUSED" || /connection refused|connect failed/i.test(err.message))
      return make("refused", `connection refused at ${where} (is sshd running and listening there?)`);
    if (err.level === "client-timeout" || err.message.includes("Timed out while waiting for handshake"))
      return make("connect-timeout", `no SSH handshake within ${connectTimeoutS}s at ${where} (host down, overloaded, or a firewall dropping packets)`);
    if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME" || err.level === "client-dns")
      return make("dns", `cannot resolve ${ep.address} (${code || "DNS error"}); check the host's address in the config`);
    if (err.level === "client-authentication" || /authentication methods failed/i.test(err.message))
      return make("auth", `authentication as ${ep.user} with ${ssh.privateKeyPath} was refused at ${where} (is the public key in the user's authorized_keys?)`);
    if (/privateKey|private key/i.test(err.message))
      return make("auth", `cannot use the private key ${ssh.privateKeyPath}: ${err.message.replace(/[\r\n].*$/s, "")}`);
    if (/^E[A-Z]+$/.test(code) || err.level === "client-socket" || err.message === "No response from server")
      return make("network", `network error at ${where}: ${code && code !== "ETIMEDOUT" ? code : err.message}`);
    return make("protocol", `SSH protocol error at ${where}: ${err.message}`);
  }

  async function handshake(ep: Endpoint, sock: Socket | Duplex, startedAt: number, via?: Connection): Promise<Connection> {
    let key: string;
    try {
      key = readPrivateKey();
    } catch (e) {
      sock.destroy();
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new SshError({ kind: "auth", host: ep.label, message: `${ep.label}: cannot read the private key ${ssh.privateKeyPath} (${code})`, durationMs: Date.now() - startedAt });
    }
    const kh = currentKnownHosts();
    if (kh.missing) {
      sock.destroy();
      throw new SshError({
        kind: "host-key-unknown",
        host: ep.label,
        message: `${ep.label}: host key is unknown: the known_hosts file ${ssh.knownHostsPath} cannot be read. Create it with the hosts' verified keys.`,
        durationMs: Date.now() - startedAt,
      });
    }
    const knownTypes = [...new Set(entriesForHost(kh.entries, ep.names, ep.port).map((e) => e.keyType))];
    // Ask first for the key types known_hosts lists, as ssh(1) does, so a host with several keys is
    // checked against the one on file rather than reported as unknown.
    const preferred = knownTypes.flatMap(algorithmsForKeyType).filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a));
    const serverHostKey = [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGORITHMS])];

    let verdict: { verdict: HostKeyVerdict; key: Buffer } | null = null;
    const nodeSsh = new NodeSSH();
    const pending = nodeSsh.connect({
      sock: sock as Socket,
      username: ep.user,
      privateKey: key,
      readyTimeout: connectTimeoutMs,
      algorithms: { serverHostKey: serverHostKey as never },
      hostVerifier: ((hostKey: Buffer) => {
        const v = verifyHostKey(kh.entries, ep.names, ep.port, hostKey);
        if (v === "ok") return true;
        verdict = { verdict: v, key: hostKey };
        return false;
      }) as never,
    });
    const client = nodeSsh.connection as unknown as Ssh2Client;
    const conn: Connection = { key: poolKey(ep), ssh: nodeSsh, client, sock, alive: true, active: false, knownHostsGen: kh.gen, children: 0, activeChildren: 0, via };
    // Errors after the handshake (peer reset, protocol faults) end the connection, never the process.
    client.on("error", () => destroy(conn));
    client.on("close", () => destroy(conn));
    try {
      await pending;
    } catch (e) {
      conn.alive = false;
      sock.destroy();
      throw connectError(ep, e as ErrnoLike, startedAt, verdict, via ? bastionEndpoint()?.label : undefined);
    }
    if (via) via.children++;
    setRef(conn, true);
    return conn;
  }

  function poolKey(ep: Endpoint) {
    return `${ep.user}@${ep.address}:${ep.port}#${ep.label}`;
  }

  function tcpConnect(ep: Endpoint): Socket {
    const sock = netConnect({ host: ep.address, port: ep.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    // ssh2 reports socket errors through the client; this listener only keeps an early error from being unhandled.
    sock.on("error", () => {});
    return sock;
  }

  async function connectBastion(): Promise<Connection> {
    const ep = bastionEndpoint()!;
    const current = bastion;
    if (current) {
      // Callers that waited on an attempt share its failure rather than each retrying.
      const b = await current;
      if (b.alive && b.knownHostsGen === currentKnownHosts().gen) return b;
      if (bastion === current) {
        bastion = null;
        // A bastion still carrying commands retires once they end (see parkBastion).
        if (b.children === 0) destroy(b);
      }
      if (bastion) return bastion;
    }
    const attempt = handshake(ep, tcpConnect(ep), Date.now());
    bastion = attempt;
    attempt.catch(() => {
      if (bastion === attempt) bastion = null;
    });
    return attempt;
  }

  async function connect(host: HostConfig, startedAt: number): Promise<Connection> {
    const ep = endpointOf(host);
    if (!ssh.jumpHost) return handshake(ep, tcpConnect(ep), startedAt);
    let b: Connection;
    try {
      b = await connectBastion();
    } catch (e) {
      if (!(e instanceof SshError)) throw e;
      throw new SshError({ kind: e.kind, host: ep.label, message: `${ep.label}: via ${e.message}`, durationMs: Date.now() - startedAt, cause: e });
    }
    const stream = await new Promise<Duplex>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        const err: ErrnoLike = new Error("Timed out while waiting for handshake");
        err.level = "client-timeout";
        reject(connectError(ep, err, startedAt, null, bastionEndpoint()!.label));
      }, connectTimeoutMs);
      try {
        b.client.forwardOut("127.0.0.1", 0, ep.address, ep.port, (err, s) => {
          clearTimeout(timer);
          // The bastion may get through after we gave up; that tunnel has no taker.
          if (timedOut) return s?.destroy();
          if (err) return reject(connectError(ep, err as ErrnoLike, startedAt, null, bastionEndpoint()!.label));
          resolve(s);
        });
      } catch (e) {
        clearTimeout(timer);
        destroy(b);
        reject(connectError(ep, e as ErrnoLike, startedAt, null, bastionEndpoint()!.label));
      }
    });
    return handshake(ep, stream, startedAt, b);
  }

  interface OpenedChannel {
    channel: Ssh2Channel;
    exit: { code: number | null; signal: string | null };
  }

  function openChannel(conn: Connection, command: string, timeoutMs: number): Promise<OpenedChannel> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(Object.assign(new Error("No response from server"), { code: "ETIMEDOUT" })), timeoutMs);
      try {
        conn.client.exec(command, (err, channel) => {
          clearTimeout(timer);
          if (err) return reject(err);
          // A fast command's output, exit status and close can arrive in the same read as the
          // exec reply: listen for the exit now, before any await lets the event go by.
          const exit: OpenedChannel["exit"] = { code: null, signal: null };
          channel.on("exit", (code: number | null, sig?: string) => {
            if (typeof code === "number") exit.code = code;
            else if (sig) exit.signal = sig.startsWith("SIG") ? sig : `SIG${sig}`;
          });
          resolve({ channel, exit });
        });
      } catch (e) {
        clearTimeout(timer);
        reject(e as Error);
      }
    });
  }

  async function acquireConnection(host: HostConfig, command: string, fresh: boolean, startedAt: number): Promise<{ conn: Connection; opened: OpenedChannel }> {
    const ep = endpointOf(host);
    const kept = pool.get(poolKey(ep));
    if (kept) {
      pool.delete(kept.key);
      clearTimeout(kept.idleTimer);
      if (fresh || !kept.alive || kept.knownHostsGen !== currentKnownHosts().gen) {
        destroy(kept);
      } else {
        setRef(kept, true);
        try {
          return { conn: kept, opened: await openChannel(kept, command, connectTimeoutMs) };
        } catch {
          // The kept connection died while idle (host rebooted, sshd restarted): start over.
          destroy(kept);
        }
      }
    }
    const conn = await connect(host, startedAt);
    try {
      return { conn, opened: await openChannel(conn, command, connectTimeoutMs) };
    } catch (e) {
      destroy(conn);
      const err = e as ErrnoLike;
      throw new SshError({
        kind: err.code === "ETIMEDOUT" ? "network" : "protocol",
        host: host.name,
        message: `${host.name}: the server did not start the command: ${err.message}`,
        command,
        durationMs: Date.now() - startedAt,
        cause: e,
      });
    }
  }

  function run(host: HostConfig, command: string, opts: ExecOptions): Promise<ExecResult> {
    const startedAt = Date.now();
    const timeoutMs = opts.timeoutMs ?? Math.round(ssh.commandTimeoutSeconds * 1000);
    const cancelled = () =>
      new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: cancelled`, command, durationMs: Date.now() - startedAt });
    if (opts.signal?.aborted) return Promise.reject(cancelled());

    return (async () => {
      const acquiring = acquireConnection(host, command, opts.fresh ?? false, startedAt);
      const { conn, opened } = await abortable(acquiring, opts.signal, () => {
        // Whatever the attempt still produces is closed unused.
        acquiring.then(({ conn: late }) => destroy(late), () => {});
        return cancelled();
      });
      const { channel, exit } = opened;
      const stdout = new TailBuffer(ssh.maxOutputBytes);
      const stderr = new TailBuffer(ssh.maxOutputBytes);
      const decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
      let ending: { kind: "command-timeout" | "cancelled" } | null = null;

      const emit = (chunk: Buffer, stream: "stdout" | "stderr") => {
        (stream === "stdout" ? stdout : stderr).push(chunk);
        if (opts.onOutput) {
          const text = decoders[stream].write(chunk);
          try {
            if (text) opts.onOutput(text, stream);
          } catch {
            // A failing listener must not break the command.
          }
        }
      };

      // ssh2's signal() is a no-op once stdin is ended, though the protocol allows it.
      const sendSignal = (name: string) => {
        try {
          const out = channel.outgoing;
          if (out && (out.state === "open" || out.state === "eof") && channel._client?._protocol) channel._client._protocol.signal(out.id, name);
          else channel.signal(name);
        } catch {
          // Closing the channel below ends the session all the same.
        }
      };

      const outcome = await new Promise<"closed" | "timeout" | "cancelled">((resolve) => {
        let settled = false;
        let forceTimer: NodeJS.Timeout | undefined;
        const stop = (why: "timeout" | "cancelled") => {
          if (ending) return;
          ending = { kind: why === "timeout" ? "command-timeout" : "cancelled" };
          sendSignal(why === "timeout" ? "KILL" : "TERM");
          try {
            channel.close();
          } catch {
            // Connection already gone.
          }
          // OpenSSH refuses signal requests on root sessions (no privilege separation after
          // login) and then holds the channel until the command exits: cut the connection.
          forceTimer = setTimeout(() => destroy(conn), SIGNAL_GRACE_MS);
        };
        const timer = setTimeout(() => stop("timeout"), timeoutMs);
        const onAbort = () => stop("cancelled");
        opts.signal?.addEventListener("abort", onAbort, { once: true });
        channel.on("data", (d: Buffer) => emit(d, "stdout"));
        channel.stderr.on("data", (d: Buffer) => emit(d, "stderr"));
        channel.on("close", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          clearTimeout(forceTimer);
          opts.signal?.removeEventListener("abort", onAbort);
          resolve(ending ? (ending.kind === "command-timeout" ? "timeout" : "cancelled") : "closed");
        });
        channel.on("error", () => {});
        // An abort that came while connecting fired no event this listener could see.
        if (opts.signal?.aborted) stop("cancelled");
        // Like ssh -n: a command that waits for input gets end-of-file, not a hang until the timeout.
        channel.end();
      });

      for (const s of ["stdout", "stderr"] as const) {
        const rest = decoders[s].end();
        if (rest && opts.onOutput) {
          try {
            opts.onOutput(rest, s);
          } catch {
            // As above.
          }
        }
      }
      const durationMs = Date.now() - startedAt;
      const out = stdout.text();
      const err = stderr.text();
      if (outcome !== "closed") {
        // The remote command may outlive its channel; never hand this connection to the next caller.
        destroy(conn);
        if (outcome === "cancelled") {
          throw new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: cancelled after ${durationMs} ms`, command, stdout: out, stderr: err, durationMs });
        }
        throw new SshError({
          kind: "command-timeout",
          host: host.name,
          message: `${host.name}: command timed out after ${Math.round(timeoutMs / 100) / 10}s and was killed`,
          command,
          stdout: out,
          stderr: err,
          durationMs,
        });
      }
      const { code: exitCode, signal: exitSignal } = exit;
      if (exitCode === null && exitSignal === null) {
        destroy(conn);
        throw new SshError({
          kind: "network",
          host: host.name,
          message: `${host.name}: the connection was lost before the command reported its exit status`,
          command,
          stdout: out,
          stderr: err,
          durationMs,
        });
      }
      park(conn);
      return { host: host.name, exitCode, signal: exitSignal, stdout: out, stderr: err, durationMs, truncated: stdout.truncated || stderr.truncated };
    })();
  }

  return {
    async exec(host, command, opts = {}) {
      if (closed) {
        throw new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: the SSH transport was closed (configuration changed?)`, durationMs: 0 });
      }
      const queuedAt = Date.now();
      let release: () => void;
      try {
        release = await hostLocks().acquire(host.name, opts.signal);
      } catch {
        throw new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: cancelled while waiting for the host`, command, durationMs: Date.now() - queuedAt });
      }
      try {
        return await limit(() => run(host, command, opts));
      } finally {
        release();
      }
    },
    async close() {
      closed = true;
      for (const conn of [...pool.values()]) destroy(conn);
      const b = await bastion?.catch(() => null);
      if (b && b.children === 0) destroy(b);
    },
  };
}

/**
 * The process's shared transport for this SSH config; a changed config gets a new transport and the
 * old one is closed once its running commands end.
 */
export function getFleetTransport(ssh: SshConfig, options: TransportOptions = {}): FleetTransport {
  const key = JSON.stringify({ ssh, options });
  const current = globalForSsh.scapFleetTransport;
  if (current?.key === key) return current.transport;
  void current?.transport.close();
  const transport = createFleetTransport(ssh, options);
  globalForSsh.scapFleetTransport = { key, transport };
  return transport;
}

/** Closes the shared transport (scripts call this before exiting). */
export async function closeFleetTransport(): Promise<void> {
  const current = globalForSsh.scapFleetTransport;
  globalForSsh.scapFleetTransport = undefined;
  await current?.transport.close();
}
