import "server-only";
import { RepositoryError } from "./errors";
import { readChunks } from "./stream";

/** One GET's answer. The body is read through chunks(), which enforces the read's time limits. */
export interface HttpResponse {
  url: string;
  status: 200 | 304;
  etag: string | null;
  lastModified: string | null;
  contentLength: number | null;
  chunks(): AsyncGenerator<Uint8Array>;
  /** Drops the body unread. */
  discard(): Promise<void>;
}

export interface GetOptions {
  /** Validators for a conditional GET; a 304 answer is then returned instead of an error. */
  etag?: string | null;
  lastModified?: string | null;
}

const USER_AGENT = "scap-channels (repository reader)";

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * HTTP for one repository read: every request (headers and body) has its own timeout, and all of
 * them together share a total deadline. Failures become RepositoryErrors naming the URL.
 */
export class RepositoryHttp {
  private readonly total: AbortSignal;

  constructor(
    readonly timeoutMs: number,
    readonly totalMs: number,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.total = AbortSignal.timeout(totalMs);
  }

  async get(url: string, options: GetOptions = {}): Promise<HttpResponse> {
    const own = AbortSignal.timeout(this.timeoutMs);
    const signal = AbortSignal.any([this.total, own]);
    const headers: Record<string, string> = {
      "User-Agent": USER_AGENT,
      // Byte-exact bodies: a transfer encoding would change what the signed hashes cover.
      "Accept-Encoding": "identity",
      // Proxies must revalidate index files, as apt asks them to.
      "Cache-Control": "max-age=0",
    };
    if (options.etag) headers["If-None-Match"] = options.etag;
    if (options.lastModified) headers["If-Modified-Since"] = options.lastModified;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { headers, signal, redirect: "follow" });
    } catch (e) {
      throw this.failure(e, url, own, "request");
    }
    const etag = res.headers.get("etag");
    const lastModified = res.headers.get("last-modified");
    if (res.status === 304 && (options.etag || options.lastModified)) {
      await res.body?.cancel().catch(() => {});
      return { url, status: 304, etag, lastModified, contentLength: 0, chunks: emptyChunks, discard: async () => {} };
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      if (res.status === 404 || res.status === 410) throw new RepositoryError("not-found", `${url}: not found (HTTP ${res.status})`, url);
      throw new RepositoryError("unreachable", `${url}: the server answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`, url);
    }
    const length = res.headers.get("content-length");
    const contentLength = length !== null && /^[0-9]+$/.test(length) ? Number(length) : null;
    const body = res.body;
    const failure = (e: unknown) => this.failure(e, url, own, "body");
    return {
      url,
      status: 200,
      etag,
      lastModified,
      contentLength,
      async *chunks() {
        if (body) yield* readChunks(body, failure);
      },
      discard: async () => {
        await body?.cancel().catch(() => {});
      },
    };
  }

  private failure(e: unknown, url: string, own: AbortSignal, phase: "request" | "body"): RepositoryError {
    if (e instanceof RepositoryError) return e;
    const during = phase === "body" ? " while downloading" : "";
    if (own.aborted) {
      const what = phase === "body" ? "download not finished" : "no answer";
      return new RepositoryError("unreachable", `${url}: ${what} within ${seconds(this.timeoutMs)} (repository.timeoutSeconds)`, url);
    }
    if (this.total.aborted) {
      return new RepositoryError("unreachable", `${url}: the whole repository read took longer than its ${seconds(this.totalMs)} limit${during}`, url);
    }
    return new RepositoryError("unreachable", `${url}: ${describeNetworkError(e)}${during}`, url);
  }
}

async function* emptyChunks(): AsyncGenerator<Uint8Array> {}

const CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the server",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_HEADERS_TIMEOUT: "no response headers in time",
  UND_ERR_BODY_TIMEOUT: "body stalled",
  CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's TLS certificate cannot be verified",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another host name",
};

/** undici wraps the socket error in `cause` (sometimes twice); the innermost code says what happened. */
function describeNetworkError(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur && typeof cur === "object"; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && CODES[code]) return CODES[code];
    if (typeof code === "string" && code !== "UND_ERR" && !code.startsWith("ERR_")) return `network error ${code}`;
    cur = (cur as { cause?: unknown }).cause;
  }
  const message = e instanceof Error ? e.message : String(e);
  if (message === "terminated") return "connection closed by the server";
  const cause = e instanceof Error ? e.cause : undefined;
  const detail = cause instanceof Error ? cause.message : typeof cause === "string" ? cause : "";
  return `network error (${message}${detail ? `: ${detail}` : ""})`;
}
