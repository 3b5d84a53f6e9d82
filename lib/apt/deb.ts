import "server-only";
import { createHash } from "node:crypto";
import type { RepositoryConfig } from "../config-schema";
import { RepositoryError } from "./errors";
import { RepositoryHttp } from "./fetch";
import { buildUrl } from "./repository";

export interface BuildFile {
  filename: string;
  size: number;
  sha256: string;
}

/**
 * Downloads a build's .deb and checks it against the size and SHA256 of the verified index, without
 * keeping it: what apt on a host will fetch before installing. Throws RepositoryError (not-found,
 * hash-mismatch, too-large, unreachable).
 */
export async function checkBuildDownload(config: RepositoryConfig, build: BuildFile, options: { fetch?: typeof fetch } = {}): Promise<{ url: string; durationMs: number }> {
  const started = Date.now();
  const url = buildUrl(config, build.filename);
  if (build.size > config.maxDownloadBytes) {
    throw new RepositoryError("too-large", `${url} is ${build.size} bytes, more than repository.maxDownloadBytes (${config.maxDownloadBytes})`, url);
  }
  const timeoutMs = config.timeoutSeconds * 1000;
  const http = new RepositoryHttp(timeoutMs, timeoutMs, options.fetch);
  const res = await http.get(url);
  if (res.contentLength !== null && res.contentLength !== build.size) {
    await res.discard();
    throw new RepositoryError("hash-mismatch", `${url}: the server announces ${res.contentLength} bytes, the index lists ${build.size}`, url);
  }
  const hash = createHash("sha256");
  let received = 0;
  for await (const chunk of res.chunks()) {
    received += chunk.length;
    if (received > build.size) throw new RepositoryError("hash-mismatch", `${url}: more than the ${build.size} bytes the index lists`, url);
    hash.update(chunk);
  }
  if (received !== build.size) throw new RepositoryError("hash-mismatch", `${url}: got ${received} bytes, the index lists ${build.size}`, url);
  const got = hash.digest("hex");
  if (got !== build.sha256) {
    throw new RepositoryError(
      "hash-mismatch",
      `${url}: SHA256 is ${got.slice(0, 16)}…, the index lists ${build.sha256.slice(0, 16)}… (apt will refuse it: Hash Sum mismatch)`,
      url,
    );
  }
  return { url, durationMs: Date.now() - started };
}
