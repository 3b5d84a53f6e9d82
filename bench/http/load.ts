// One bounded autocannon run against a route; the 95th percentile from every response's latency
// (autocannon's own summary has no p95). Bounded by time, and stopped early at maxRequests.
import autocannon from "autocannon";

export interface LoadResult {
  p95: number;
  requests: number;
  /** Network errors, timeouts and non-2xx answers. */
  errors: number;
  /** No request was answered within the round; p95 is then the round's length, a lower bound. */
  unanswered: boolean;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export async function load(url: string, headers: Record<string, string>, o: { connections: number; seconds: number; maxRequests: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  const instance = autocannon({ url, headers, connections: o.connections, duration: o.seconds, timeout: 30 });
  instance.on("response", (_client, _status, _bytes, ms) => {
    latencies.push(ms);
    if (latencies.length === o.maxRequests) instance.stop();
  });
  const r = await instance;
  // No answer within the round: the p95 is at least the round's length, which is what is reported.
  if (latencies.length === 0) return { p95: o.seconds * 1000, requests: 0, errors: r.errors + r.timeouts + r.non2xx, unanswered: true };
  return { p95: percentile(latencies, 95), requests: r.requests.total, errors: r.errors + r.timeouts + r.non2xx, unanswered: false };
}
