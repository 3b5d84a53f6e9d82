import "server-only";
import { SshError } from "./errors";

// One holder per host across the whole process, whichever transport or caller asks: two apt runs
// on one host fail on dpkg's lock, and a probe must not read a half-installed state. Waiters get
// the host in the order they asked.

export interface HostLockRequest {
  /** Who asks, in words a viewer understands ("deployment 12"); stored while it holds the host. */
  holder: string;
  /** How long to wait for the current holder; then the request fails with kind "busy". */
  waitMs: number;
  /** "fail": do not queue behind a holder, fail with kind "busy" at once. */
  ifBusy?: "wait" | "fail";
  signal?: AbortSignal;
  /** The command that asked, for the error. */
  command?: string;
}

/** Hands the host to the next waiter; calling it again does nothing. */
export type ReleaseHost = () => void;

interface Waiter {
  holder: string;
  grant(release: ReleaseHost): void;
}

interface HostLock {
  holder: string;
  queue: Waiter[];
}

// setTimeout fires at once for delays past 2^31-1 ms.
const MAX_TIMER_MS = 2 ** 31 - 1;

function busyError(host: string, holder: string, req: HostLockRequest, waitedMs: number | null): SshError {
  const waited = waitedMs === null ? "" : `; gave up after waiting ${Math.round(waitedMs / 100) / 10}s`;
  return new SshError({ kind: "busy", host, message: `${host}: the host is busy, held by ${holder}${waited}`, command: req.command, holder, durationMs: waitedMs ?? 0 });
}

class HostLocks {
  private locks = new Map<string, HostLock>();

  holder(host: string): string | null {
    return this.locks.get(host)?.holder ?? null;
  }

  acquire(host: string, req: HostLockRequest): Promise<ReleaseHost> {
    const queuedAt = Date.now();
    const cancelled = () =>
      new SshError({ kind: "cancelled", host, message: `${host}: cancelled while waiting for the host`, command: req.command, durationMs: Date.now() - queuedAt });
    if (req.signal?.aborted) return Promise.reject(cancelled());
    const lock = this.locks.get(host);
    if (!lock) {
      const fresh: HostLock = { holder: req.holder, queue: [] };
      this.locks.set(host, fresh);
      return Promise.resolve(this.releaser(host, fresh));
    }
    if (req.ifBusy === "fail") return Promise.reject(busyError(host, lock.holder, req, null));

    return new Promise<ReleaseHost>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
      };
      const leave = (error: SshError) => {
        const i = lock.queue.indexOf(waiter);
        if (i >= 0) lock.queue.splice(i, 1);
        done();
        reject(error);
      };
      const waiter: Waiter = {
        holder: req.holder,
        grant(release) {
          done();
          resolve(release);
        },
      };
      const onAbort = () => leave(cancelled());
      if (Number.isFinite(req.waitMs)) {
        timer = setTimeout(() => leave(busyError(host, lock.holder, req, Date.now() - queuedAt)), Math.min(Math.max(req.waitMs, 0), MAX_TIMER_MS));
      }
      req.signal?.addEventListener("abort", onAbort, { once: true });
      lock.queue.push(waiter);
    });
  }

  private releaser(host: string, lock: HostLock): ReleaseHost {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = lock.queue.shift();
      if (!next) {
        this.locks.delete(host);
        return;
      }
      // Handed over directly, so no one can slip in between two holders.
      lock.holder = next.holder;
      next.grant(this.releaser(host, lock));
    };
  }
}

// Shared across transports and across Next's module graphs. The key names this table's shape.
const globalForLocks = globalThis as unknown as { scapHostLockTable?: HostLocks };

function hostLocks(): HostLocks {
  return (globalForLocks.scapHostLockTable ??= new HostLocks());
}

/** Waits for the host (by name) and takes it; resolve with the function that hands it on. */
export function acquireHost(host: string, req: HostLockRequest): Promise<ReleaseHost> {
  return hostLocks().acquire(host, req);
}

/** Who holds the host right now, as the holder named itself; null when it is free. */
export function hostHolder(host: string): string | null {
  return hostLocks().holder(host);
}
