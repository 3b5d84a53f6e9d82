import "server-only";
import pLimit from "p-limit";
import type { HostConfig, SshConfig } from "../../config-schema";
import { createConnector } from "./connection";
import { SshError } from "./errors";
import { runCommand, type ExecOptions, type ExecResult } from "./exec";
import { hostLocks } from "./locks";

// The fleet's SSH transport: one host at a time per host (process-wide), at most ssh.concurrency
// commands at once, connections kept between commands.

export interface FleetTransport {
  exec(host: HostConfig, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Closes idle connections now and the others when their command ends; later exec calls fail. */
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
  let closed = false;

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
        return await limit(() => runCommand(connector, ssh, host, command, opts));
      } finally {
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
 * old one is closed once its running commands end.
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
