import "server-only";

// SSH handshakes under way in this process. Each one costs the process's one thread a key exchange,
// a host key check and a signature; started all at once, hundreds of them share that thread so
// thinly that, on a loaded machine, most miss their timeout together. Queued, the first ones finish
// and free their place.

interface Waiter {
  max: number;
  grant: () => void;
}

// One count per process, whichever copy of this module (server bundles, scripts) asks.
const state = ((globalThis as unknown as { scapSshHandshakes?: { active: number; peak: number; queue: Waiter[] } }).scapSshHandshakes ??= {
  active: 0,
  peak: 0,
  queue: [],
});
const queue = state.queue;

function countIn(): void {
  state.active++;
  state.peak = Math.max(state.peak, state.active);
}

function grantWaiting(): void {
  while (queue.length > 0 && state.active < queue[0]!.max) {
    countIn();
    queue.shift()!.grant();
  }
}

export interface HandshakeWait {
  /** Handshakes allowed at once, this one included (ssh.maxHandshakes). */
  max: number;
  /** Epoch ms after which waiting fails with `timeout()`. */
  deadline: number;
  signal?: AbortSignal;
  timeout: () => Error;
  cancelled: () => Error;
}

/**
 * Waits, first come first served, until fewer than `max` handshakes are under way, and counts this
 * one in; the returned function counts it out (once, however often it is called).
 */
export function acquireHandshake(wait: HandshakeWait): Promise<() => void> {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    state.active--;
    grantWaiting();
  };
  if (wait.signal?.aborted) return Promise.reject(wait.cancelled());
  if (queue.length === 0 && state.active < wait.max) {
    countIn();
    return Promise.resolve(release);
  }
  return new Promise((resolve, reject) => {
    const leave = (error: Error) => {
      const i = queue.indexOf(waiter);
      if (i === -1) return;
      queue.splice(i, 1);
      clearTimeout(timer);
      wait.signal?.removeEventListener("abort", onAbort);
      reject(error);
      // A waiter with a larger max behind this one may fit now.
      grantWaiting();
    };
    const onAbort = () => leave(wait.cancelled());
    const waiter: Waiter = {
      max: wait.max,
      grant: () => {
        clearTimeout(timer);
        wait.signal?.removeEventListener("abort", onAbort);
        resolve(release);
      },
    };
    const timer = setTimeout(() => leave(wait.timeout()), Math.max(0, wait.deadline - Date.now()));
    wait.signal?.addEventListener("abort", onAbort, { once: true });
    queue.push(waiter);
  });
}

/** Handshakes under way and waiting now, and the most under way at once since the last reset. */
export function handshakeCounts(opts: { resetPeak?: boolean } = {}): { active: number; queued: number; peak: number } {
  const counts = { active: state.active, queued: queue.length, peak: state.peak };
  if (opts.resetPeak) state.peak = state.active;
  return counts;
}
