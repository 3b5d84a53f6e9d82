import "server-only";
import { StringDecoder } from "node:string_decoder";
import type { HostConfig, SshConfig } from "../../config-schema";
import type { Connector } from "./connection";
import { SshError } from "./errors";
import { TailBuffer } from "./tail";

// One command on one host: output kept and streamed, a timeout that kills, cancellation, and the
// connection handed back only when the command really ended.

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

const SIGNAL_GRACE_MS = 250;

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

/** Runs `command` on `host` over a connection from `connector`; the caller holds the host. */
export async function runCommand(connector: Connector, ssh: SshConfig, host: HostConfig, command: string, opts: ExecOptions): Promise<ExecResult> {
  const startedAt = Date.now();
  const timeoutMs = opts.timeoutMs ?? Math.round(ssh.commandTimeoutSeconds * 1000);
  const cancelled = () =>
    new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: cancelled`, command, durationMs: Date.now() - startedAt });
  if (opts.signal?.aborted) throw cancelled();

  const acquiring = connector.open(host, command, { fresh: opts.fresh ?? false, startedAt, waitMs: timeoutMs, signal: opts.signal });
  const { conn, opened } = await abortable(acquiring, opts.signal, () => {
    // Whatever the attempt still produces is closed unused.
    acquiring.then(({ conn: late }) => connector.destroy(late), () => {});
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
      forceTimer = setTimeout(() => connector.destroy(conn), SIGNAL_GRACE_MS);
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
    connector.destroy(conn);
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
    connector.destroy(conn);
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
  connector.park(conn);
  return { host: host.name, exitCode, signal: exitSignal, stdout: out, stderr: err, durationMs, truncated: stdout.truncated || stderr.truncated };
}
