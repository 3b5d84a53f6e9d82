import "server-only";
import { readFileSync, statSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import { NodeSSH } from "node-ssh";
import type { HostConfig, SshConfig } from "../../config-schema";
import { entriesForHost, keyBlobType, keyFingerprint, knownHostName, parseKnownHosts, verifyHostKey, type HostKeyVerdict, type KnownHostEntry } from "../known-hosts";
import { SshError, type SshErrorKind } from "./errors";
import { acquireHandshake } from "./handshakes";

// Connections to hosts: TCP or a jump host's tunnel, the handshake checked against known_hosts, and
// a pool that keeps an idle connection for the host's next command.

// --- ssh2 surface ---------------------------------------------------------------------------------

// The parts of ssh2's Client and channels used here (@types/ssh2 is not installed).
export interface Ssh2Channel extends Duplex {
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

export interface Connection {
  key: string;
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

/** A command's channel, opened; `exit` fills in when the server reports the exit status. */
export interface OpenedChannel {
  channel: Ssh2Channel;
  exit: { code: number | null; signal: string | null };
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

function refSocket(sock: Socket | Duplex, ref: boolean) {
  const s = sock as Partial<Socket>;
  if (ref) s.ref?.();
  else s.unref?.();
}

function tcpConnect(ep: Endpoint): Socket {
  const sock = netConnect({ host: ep.address, port: ep.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
  // ssh2 reports socket errors through the client; this listener only keeps an early error from being unhandled.
  sock.on("error", () => {});
  return sock;
}

// Error messages are shown to every viewer: they name the config key, never the file on this machine.
const PRIVATE_KEY = "the configured private key (ssh.privateKeyPath)";
const KNOWN_HOSTS = "the configured known_hosts file (ssh.knownHostsPath)";

function fsProblem(code: string): string {
  const words: Record<string, string> = { ENOENT: "no such file", EACCES: "permission denied", EPERM: "permission denied", EISDIR: "it is a directory" };
  return words[code] ? `${words[code]} (${code})` : code;
}

function poolKey(ep: Endpoint) {
  return `${ep.user}@${ep.address}:${ep.port}#${ep.label}`;
}

export interface OpenOptions {
  /** A new connection even when an idle one is kept. */
  fresh: boolean;
  /** When the command was asked for (Date.now()); durations count from here. */
  startedAt: number;
  /** How long after startedAt a new connection may wait for its turn to handshake (the command's timeout). */
  waitMs: number;
  signal?: AbortSignal;
}

/** Handshakes at once when ssh.maxHandshakes is not set (and never more than ssh.concurrency). */
export const DEFAULT_MAX_HANDSHAKES = 64;

export interface Connector {
  /** A connection to the host with `command`'s channel open on it: a kept one when it still works, else a new one. */
  open(host: HostConfig, command: string, opts: OpenOptions): Promise<{ conn: Connection; opened: OpenedChannel }>;
  /** Keeps a connection whose command ended cleanly for the host's next command, or closes it. */
  park(conn: Connection): void;
  destroy(conn: Connection): void;
  /** Closes idle connections now; the others close when their command ends. */
  close(): Promise<void>;
}

export function createConnector(ssh: SshConfig, idleMs: number): Connector {
  const connectTimeoutMs = Math.round(ssh.connectTimeoutSeconds * 1000);
  const maxHandshakes = ssh.maxHandshakes ?? Math.min(ssh.concurrency, DEFAULT_MAX_HANDSHAKES);
  const pool = new Map<string, Connection>();
  let bastion: Promise<Connection> | null = null;
  let closed = false;

  let privateKey: string | null = null;
  function readPrivateKey(): string {
    // Read once; the key text never goes into a message or a log line.
    if (privateKey === null) privateKey = readFileSync(ssh.privateKeyPath, "utf8");
    return privateKey;
  }

  /** `unreadable`: why the file could not be read (an errno code), or null. */
  let knownHosts: { mtimeMs: number; size: number; entries: KnownHostEntry[]; gen: number; unreadable: string | null } | null = null;
  function currentKnownHosts() {
    let st: { mtimeMs: number; size: number } | null = null;
    let unreadable: string | null = null;
    try {
      st = statSync(ssh.knownHostsPath);
    } catch (e) {
      unreadable = (e as NodeJS.ErrnoException).code ?? "error";
    }
    const mtimeMs = st?.mtimeMs ?? -1;
    const size = st?.size ?? -1;
    if (!knownHosts || knownHosts.mtimeMs !== mtimeMs || knownHosts.size !== size) {
      let entries: KnownHostEntry[] = [];
      if (!unreadable) {
        try {
          entries = parseKnownHosts(readFileSync(ssh.knownHostsPath, "utf8"));
        } catch (e) {
          unreadable = (e as NodeJS.ErrnoException).code ?? "error";
        }
      }
      // A new generation retires kept connections: they were verified against the old file.
      knownHosts = { mtimeMs, size, entries, gen: (knownHosts?.gen ?? 0) + 1, unreadable };
    }
    return knownHosts;
  }

  // The known_hosts lines that name each host, per version of the file: a hashed line costs an HMAC
  // per line and name, so matching every line on every connection grows with the fleet squared.
  let matched: { gen: number; revoked: KnownHostEntry[]; byHost: Map<string, KnownHostEntry[]> } | null = null;
  function linesFor(kh: { gen: number; entries: KnownHostEntry[] }, ep: Endpoint): { known: KnownHostEntry[]; relevant: KnownHostEntry[] } {
    if (!matched || matched.gen !== kh.gen) matched = { gen: kh.gen, revoked: kh.entries.filter((e) => e.marker === "revoked"), byHost: new Map() };
    const key = `${ep.port} ${ep.names.join(" ")}`;
    let known = matched.byHost.get(key);
    if (!known) {
      known = entriesForHost(kh.entries, ep.names, ep.port);
      matched.byHost.set(key, known);
    }
    // verifyHostKey needs only these: revoked keys refuse wherever they are listed, the rest must name the host.
    return { known, relevant: [...matched.revoked, ...known] };
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
    // Commands that outlived close() may have reopened it; nothing will come for it now.
    if (closed) return destroy(b);
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
          `host key is unknown (${type} ${fp} at ${where}); it is not in ${KNOWN_HOSTS}. ` +
            `Check the fingerprint with the host's owner, then add to that file the line that ssh-keyscan -p ${ep.port} -t ${type} ${ep.address} prints.`,
        );
      }
      if (verdict.verdict === "changed") {
        const lines = entriesForHost(currentKnownHosts().entries, ep.names, ep.port).map((e) => e.line);
        return make(
          "host-key-changed",
          `host key CHANGED: ${where} presented ${type} ${fp}, which does not match ${KNOWN_HOSTS} line ${lines.join(", ")}. ` +
            `Refused: this is either a reinstalled host or someone intercepting the connection. If the change is expected, ` +
            `remove the old key from that file (ssh-keygen -R '${name}' -f <known_hosts file>) and add the new one after checking its fingerprint.`,
        );
      }
      return make("host-key-revoked", `host key ${type} ${fp} at ${where} is marked @revoked in ${KNOWN_HOSTS}; refused.`);
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
      return make("auth", `authentication as ${ep.user} with ${PRIVATE_KEY} was refused at ${where} (is the public key in the user's authorized_keys?)`);
    if (/privateKey|private key/i.test(err.message))
      return make("auth", `cannot use ${PRIVATE_KEY}: ${err.message.replace(/[\r\n].*$/s, "")}`);
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
      throw new SshError({ kind: "auth", host: ep.label, message: `${ep.label}: cannot read ${PRIVATE_KEY}: ${fsProblem(code)}`, durationMs: Date.now() - startedAt });
    }
    const kh = currentKnownHosts();
    if (kh.unreadable) {
      sock.destroy();
      throw new SshError({
        kind: "host-key-unknown",
        host: ep.label,
        message: `${ep.label}: host key is unknown: ${KNOWN_HOSTS} cannot be read: ${fsProblem(kh.unreadable)}. Create it with the hosts' verified keys.`,
        durationMs: Date.now() - startedAt,
      });
    }
    const { known, relevant } = linesFor(kh, ep);
    const knownTypes = [...new Set(known.map((e) => e.keyType))];
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
      // The key is the only way in: asking for "none" first (ssh2's default) costs a round trip per connection.
      authHandler: ["publickey"],
      readyTimeout: connectTimeoutMs,
      algorithms: { serverHostKey: serverHostKey as never },
      hostVerifier: ((hostKey: Buffer) => {
        const v = verifyHostKey(relevant, ep.names, ep.port, hostKey);
        if (v === "ok") return true;
        verdict = { verdict: v, key: hostKey };
        return false;
      }) as never,
    });
    const client = nodeSsh.connection as unknown as Ssh2Client;
    const conn: Connection = { key: poolKey(ep), client, sock, alive: true, active: false, knownHostsGen: kh.gen, children: 0, activeChildren: 0, via };
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

  /**
   * Runs `attempt` (a TCP connection and its SSH handshake) once fewer than maxHandshakes are under
   * way in the process. The connect timeout starts with the attempt, not while waiting; the wait
   * itself ends at the command's timeout or its signal.
   */
  async function inTurn(ep: Endpoint, opts: OpenOptions, attempt: () => Promise<Connection>): Promise<Connection> {
    const release = await acquireHandshake({
      max: maxHandshakes,
      deadline: opts.startedAt + opts.waitMs,
      signal: opts.signal,
      timeout: () =>
        new SshError({
          kind: "connect-timeout",
          host: ep.label,
          message: `${ep.label}: no turn to connect within ${Math.round(opts.waitMs / 100) / 10}s: at most ${maxHandshakes} SSH handshake${maxHandshakes === 1 ? "" : "s"} run at once (ssh.maxHandshakes), and the hosts ahead of this one took all that time`,
          durationMs: Date.now() - opts.startedAt,
        }),
      cancelled: () => new SshError({ kind: "cancelled", host: ep.label, message: `${ep.label}: cancelled`, durationMs: Date.now() - opts.startedAt }),
    });
    try {
      return await attempt();
    } finally {
      release();
    }
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

  async function connect(host: HostConfig, opts: OpenOptions): Promise<Connection> {
    const { startedAt } = opts;
    const ep = endpointOf(host);
    if (!ssh.jumpHost) return inTurn(ep, opts, () => handshake(ep, tcpConnect(ep), startedAt));
    // The bastion is taken once this connection's turn has come, so it cannot go idle while we wait.
    return inTurn(ep, opts, async () => {
      let b: Connection;
      try {
        b = await connectBastion();
      } catch (e) {
        if (!(e instanceof SshError)) throw e;
        throw new SshError({ kind: e.kind, host: ep.label, message: `${ep.label}: via ${e.message}`, durationMs: Date.now() - startedAt, cause: e });
      }
      return tunnel(ep, b, startedAt);
    });
  }

  /** A target connection through the bastion `b`: the tunnel, then the target's own handshake. */
  async function tunnel(ep: Endpoint, b: Connection, startedAt: number): Promise<Connection> {
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

  async function open(host: HostConfig, command: string, opts: OpenOptions): Promise<{ conn: Connection; opened: OpenedChannel }> {
    const { fresh, startedAt } = opts;
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
    const conn = await connect(host, opts);
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

  return {
    open,
    park,
    destroy,
    async close() {
      closed = true;
      for (const conn of [...pool.values()]) destroy(conn);
      const b = await bastion?.catch(() => null);
      if (b && b.children === 0) destroy(b);
    },
  };
}
