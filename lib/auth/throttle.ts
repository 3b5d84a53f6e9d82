import "server-only";

// Failed sign-ins per user name, kept in this process: enough to make password guessing slow.
const MAX_FAILURES = 5;
const WINDOW_MS = 15 * 60_000;

const store = ((globalThis as unknown as { scapSignInFailures?: Map<string, { count: number; first: number }> }).scapSignInFailures ??= new Map());

export function isThrottled(name: string, now = Date.now()): boolean {
  const f = store.get(name);
  if (!f) return false;
  if (now - f.first > WINDOW_MS) {
    store.delete(name);
    return false;
  }
  return f.count >= MAX_FAILURES;
}

export function recordFailure(name: string, now = Date.now()): void {
  const f = store.get(name);
  if (!f || now - f.first > WINDOW_MS) store.set(name, { count: 1, first: now });
  else f.count++;
}

export function clearFailures(name: string): void {
  store.delete(name);
}
