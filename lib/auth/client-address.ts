import "server-only";
import { isIP } from "node:net";
import { getConfigState } from "../config";

// Where a request comes from. Next's server fills X-Forwarded-For/-Host/-Proto from the socket only
// when the request has none (`??=` in next/dist/server/base-server.js), so a direct client can
// write them itself. proxy.ts therefore drops them unless `server.trustedProxies` says a proxy sets
// them; Next then refills them from the socket, and this module reads them as the truth.

/** Forwarding headers a client could forge; removed from every request when no proxy is trusted. */
export const FORWARDING_HEADERS = ["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "forwarded", "x-real-ip"] as const;

export type HeaderSource = Headers | Record<string, string | string[] | undefined> | null | undefined;

export function headerValue(headers: HeaderSource, name: string): string | null {
  if (!headers) return null;
  if (headers instanceof Headers) return headers.get(name);
  const v = headers[name] ?? headers[name.toLowerCase()];
  return (Array.isArray(v) ? v.join(", ") : v) ?? null;
}

/** How many reverse proxies stand in front of the app (config `server.trustedProxies`; 0 without a usable config). */
export function trustedProxies(): number {
  const state = getConfigState();
  return state.status === "ok" ? state.config.server.trustedProxies : 0;
}

/** A syntactically valid IPv4 or IPv6 address, normalized (IPv4-mapped IPv6 as IPv4); anything else is null. */
export function parseAddress(text: string | null | undefined): string | null {
  if (typeof text !== "string") return null;
  let s = text.trim();
  if (s.length === 0 || s.length > 45) return null;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(s);
  if (mapped) s = mapped[1]!;
  const family = isIP(s);
  if (family === 4) return s;
  if (family === 6) return s.toLowerCase();
  return null;
}

/**
 * The client's IP address. With no trusted proxy, X-Forwarded-For holds exactly the socket address
 * (see above); with N proxies, the N-th entry from the right is the address the outermost trusted
 * proxy saw. Null when that entry is missing or not an IP address.
 */
export function clientAddress(headers: HeaderSource, proxies: number = trustedProxies()): string | null {
  const xff = headerValue(headers, "x-forwarded-for");
  if (!xff) return null;
  const hops = xff.split(",");
  const entry = hops[hops.length - Math.max(proxies, 1)];
  return parseAddress(entry);
}

/**
 * The value a trusted proxy set in a forwarding header (the rightmost, written by the nearest
 * proxy), or null when no proxy is trusted or the header is absent.
 */
export function forwardedValue(headers: HeaderSource, name: "x-forwarded-host" | "x-forwarded-proto", proxies: number = trustedProxies()): string | null {
  if (proxies < 1) return null;
  const v = headerValue(headers, name);
  const last = v?.split(",").pop()?.trim();
  return last ? last : null;
}
