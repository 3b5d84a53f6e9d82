import "server-only";
import { randomUUID } from "node:crypto";
import os from "node:os";

// A deployment is run by one process, which holds a lease on it in the database and renews it.
// A lease that has run out means its runner died: recovery marks the deployment interrupted.

/** How long a lease holds without renewal. */
export const LEASE_MS = 15_000;
/** How often a runner renews its lease (well inside LEASE_MS, so a slow database write never loses it). */
export const RENEW_MS = 5_000;

const slot = globalThis as unknown as { scapRunnerId?: string };

/** This process's runner id: host, pid and a random part (pids are reused across restarts). */
export function runnerId(): string {
  return (slot.scapRunnerId ??= `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`);
}

export const leaseFromNow = () => new Date(Date.now() + LEASE_MS);
