import "server-only";
import pLimit from "p-limit";
import type { HostConfig, SshConfig } from "../../config-schema";
import { createConnector } from "./connection";
import { SshError } from "./errors";
import { runCommand, type ExecOptions, type ExecResult } from "./exec";
import { acquireHost, type HostLockRequest } from "./locks";

// The fleet's SSH transport: one holder at a time per host (process-wide), at most ssh.concurrency
// commands at once, connections kept between commands.

/** How a caller waits for a host another caller holds. */
export interface HostWaitOptions {
  /** Who asks, in words a viewer understands ("deployment 12"); others' "busy" errors name it. */
  holder?: string;
  /** How long to wait for the current holder before failing with kind "busy"; default ssh.commandTimeoutSeconds. */
  waitMs?: number;
  /** "wait" (default) queues behind the holder; "fail" fails with kind "busy" at once. */
  ifBusy?: "wait" | "fail";
}

export interface TransportExecOptions extends ExecOptions, HostWaitOptions {}

export interface WithHostOptions extends HostWaitOptions {
  /** Aborts the wait for the host and any command the session is running. */
  signal?: AbortSignal;
}

/** A host held by one caller: its commands run one after another, and no one else's run in between. */
export interface HostSession {
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
}

export interface FleetTransport {
  /** One command, holding the host for just that command. */
  exec(host: HostConfig, command: string, opts?: TransportExecOptions): Promise<ExecResult>;
  /** Holds the host while `fn` runs, so several commands go through without another caller's in between. */
  withHost<T>(host: HostConfig, fn: (session: HostSession) => Promise<T>, opts?: WithHostOptions): Promise<T>;
  /**
   * Closes idle connections now and the others when their command ends. Later exec and withHost
   * calls fail; calls already made (and the sessions they hold) run to the end.
   */
  close(): Promise<void>;
}

export interface TransportOptions {
  /** How long an idle connection is kept for the next command to the host; 0 closes it after each command. */
  idleMs?: number;
}

const DEFAULT_IDLE_MS = 30_000;

export function createFleetTransport(ssh: SshConfig, options: TransportOptions = {}): FleetTransport {
  const connector = createConnector(ssh, options.idleMs ?? DEFAULT_IDLE_MS);
  const limit = pLimit(ssh.concurrency);
  const commandTimeoutMs = Math.round(ssh.commandTimeoutSeconds * 1000);
  let closed = false;

  function refuseIfClosed(host: HostConfig, command?: string) {
    if (closed) {
      throw new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: the SSH transport was closed (configuration changed?)`, command, durationMs: 0 });
    }
  }

  function lockRequest(opts: HostWaitOptions, fallbackHolder: string, signal: AbortSignal | undefined, command?: string): HostLockRequest {
    return { holder: opts.holder ?? fallbackHolder, waitMs: opts.waitMs ?? commandTimeoutMs, ifBusy: opts.ifBusy, signal, command };
  }

  // Commands run through the concurrency limit; the host is already held by the caller.
  const run = (host: HostConfig, command: string, opts: ExecOptions) => limit(() => runCommand(connector, ssh, host, command, opts));

  return {
    async exec(host, command, opts = {}) {
      refuseIfClosed(host, command);
      const release = await acquireHost(host.name, lockRequest(opts, "a command", opts.signal, command));
      try {
        return await run(host, command, opts);
      } finally {
        release();
      }
    },

    async withHost(host, fn, opts = {}) {
      refuseIfClosed(host);
      const release = await acquireHost(host.name, lockRequest(opts, "a host session", opts.signal));
      let open = true;
      // The session's commands, chained: one at a time even when the caller does not await each.
      let last: Promise<unknown> = Promise.resolve();
      const session: HostSession = {
        exec(command, execOpts = {}) {
          if (!open) {
            return Promise.reject(
              new SshError({ kind: "cancelled", host: host.name, message: `${host.name}: the host session had already ended`, command, durationMs: 0 }),
            );
          }
          const signal = opts.signal && execOpts.signal ? AbortSignal.any([opts.signal, execOpts.signal]) : (execOpts.signal ?? opts.signal);
          const result = last.then(() => run(host, command, { ...execOpts, signal }));
          last = result.catch(() => {});
          return result;
        },
      };
      try {
        return await fn(session);
      } finally {
        open = false;
        // A command the callback started without awaiting still runs under this hold.
        await last;
        release();
      }
    },

    async close() {
      closed = true;
      await connector.close();
    },
  };
}

const globalForTransport = globalThis as unknown as { scapFleetTransport?: { key: string; transport: FleetTransport } };

/**
 * The process's shared transport for this SSH config; a changed config gets a new transport and the
 * old one is closed, its running commands and sessions left to finish.
 */
export function getFleetTransport(ssh: SshConfig, options: TransportOptions = {}): FleetTransport {
  const key = JSON.stringify({ ssh, options });
  const current = globalForTransport.scapFleetTransport;
  if (current?.key === key) return current.transport;
  void current?.transport.close();
  const transport = createFleetTransport(ssh, options);
  globalForTransport.scapFleetTransport = { key, transport };
  return transport;
}

/** Closes the shared transport (scripts call this before exiting). */
export async function closeFleetTransport(): Promise<void> {
  const current = globalForTransport.scapFleetTransport;
  globalForTransport.scapFleetTransport = undefined;
  await current?.transport.close();
}
