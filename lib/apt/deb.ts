import "server-only";
import type { RepositoryConfig } from "../config-schema";
import { RepositoryError } from "./errors";
import { RepositoryHttp } from "./fetch";
import { verifyDownload } from "./packages";
import { buildUrl } from "./repository";

export interface BuildFile {
  filename: string;
  size: number;
  sha256: string;
}

/**
 * Downloads a build's .deb and checks it against the size and SHA256 of the verified index, without
 * keeping it: what apt on a host will fetch before installing, and refuse with "Hash Sum mismatch"
 * when they differ. Throws RepositoryError (not-found, hash-mismatch, too-large, unreachable).
 */
export async function checkBuildDownload(config: RepositoryConfig, build: BuildFile, options: { fetch?: typeof fetch } = {}): Promise<{ url: string; durationMs: number }> {
  const started = Date.now();
  const url = buildUrl(config, build.filename);
  if (build.size > config.maxDownloadBytes) {
    throw new RepositoryError("too-large", `${url} is ${build.size} bytes, more than repository.maxDownloadBytes (${config.maxDownloadBytes})`, url);
  }
  const timeoutMs = config.timeoutSeconds * 1000;
  const http = new RepositoryHttp(timeoutMs, timeoutMs, options.fetch);
  await verifyDownload(await http.get(url), build, "the verified index");
  return { url, durationMs: Date.now() - started };
}
