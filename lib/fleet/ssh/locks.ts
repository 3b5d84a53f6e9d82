import "server-only";

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

const globalForLocks = globalThis as unknown as { scapHostLocks?: HostLocks };

export function hostLocks(): HostLocks {
  return (globalForLocks.scapHostLocks ??= new HostLocks());
}
