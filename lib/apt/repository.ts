import "server-only";
import type { RepositoryConfig } from "../config-schema";
import { RepositoryError } from "./errors";
import { RepositoryHttp, type HttpResponse } from "./fetch";
import { readPackagesIndex, resolveUnder, type RepositoryBuild } from "./packages";
import { checkRelease, parseRelease, selectPackagesIndex, type IndexCandidate } from "./release";
import { clearsignedText, loadKeyring, MAX_CLOCK_SKEW_MS, verifyClearsigned, verifyDetached, type Keyring } from "./signature";

export type { RepositoryBuild } from "./packages";

/** What the last successful read left behind; lets the next read skip work that is not needed. */
export interface PreviousRead {
  etag?: string | null;
  lastModified?: string | null;
  /** SHA256 of the Packages file last read: a re-signed Release over the same index needs no download. */
  indexSha256?: string | null;
  /** A 304 is only trusted when the key that signed the cached Release is still trusted. */
  signerKey?: string | null;
  releaseDate?: Date | null;
  /** Re-checked on a 304: an unchanged Release can still expire. */
  validUntil?: Date | null;
}

export interface RepositoryRead {
  /** "unchanged": the Release (304) or the Packages index (same SHA256) is the one read last time. */
  status: "changed" | "unchanged";
  /** Builds in the index; empty when unchanged, since the index was not downloaded again. */
  builds: RepositoryBuild[];
  signerKey: string | null;
  releaseDate: Date | null;
  validUntil: Date | null;
  etag: string | null;
  lastModified: string | null;
  /** SHA256 of the Packages file (as listed in the signed Release). */
  indexSha256: string | null;
  /** URL of the Release file used (InRelease, or Release with Release.gpg). */
  releaseUrl: string;
  /** URL of the Packages file read, when one was read. */
  indexUrl: string | null;
  /** Stanzas of the package that were skipped, and why. */
  warnings: string[];
}

export interface ReadOptions {
  now?: () => Date;
  fetch?: typeof fetch;
}

/** Folder of the Release file, with a trailing slash. */
export function releaseBaseUrl(config: Pick<RepositoryConfig, "url" | "suite" | "flat">): string {
  const root = config.url.endsWith("/") ? config.url : `${config.url}/`;
  if (config.flat) {
    // apt's flat form `deb URL sub/`: a suite ending in "/" names a folder under the URL.
    return config.suite.endsWith("/") && config.suite !== "./" ? new URL(config.suite, root).href : root;
  }
  return new URL(`dists/${config.suite}/`, root).href;
}

/** Where the .deb of a build is served; Filename is relative to the repository URL (flat: its folder). */
export function buildUrl(config: Pick<RepositoryConfig, "url" | "suite" | "flat">, filename: string): string {
  const root = config.url.endsWith("/") ? config.url : `${config.url}/`;
  const base = config.flat ? releaseBaseUrl(config) : root;
  const url = resolveUnder(base, filename);
  if (url === null) throw new RepositoryError("parse-error", `Filename ${JSON.stringify(filename)} points outside the repository at ${base}`, base);
  return url;
}

// InRelease and Release are not in any signed list; this bounds what a hostile server can send.
const MAX_RELEASE_BYTES = 32 * 1024 * 1024;

async function readAll(res: HttpResponse, maxBytes: number): Promise<Uint8Array> {
  if (res.contentLength !== null && res.contentLength > maxBytes) {
    await res.discard();
    throw new RepositoryError("too-large", `${res.url} is ${res.contentLength} bytes, more than the ${maxBytes} allowed`, res.url);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.chunks()) {
    total += chunk.length;
    if (total > maxBytes) throw new RepositoryError("too-large", `${res.url} is more than the ${maxBytes} bytes allowed`, res.url);
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}

const utf8 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");

interface ReleaseFetch {
  status: 200 | 304;
  url: string;
  text: string;
  signerKey: string | null;
  etag: string | null;
  lastModified: string | null;
}

/** InRelease, or Release + Release.gpg when the repository has no InRelease; verified unless unsigned. */
async function fetchRelease(http: RepositoryHttp, base: string, keyring: Keyring | null, validators: { etag?: string | null; lastModified?: string | null }, now: Date): Promise<ReleaseFetch> {
  const maxBytes = MAX_RELEASE_BYTES;
  const inReleaseUrl = `${base}InRelease`;
  let res: HttpResponse | null = null;
  try {
    res = await http.get(inReleaseUrl, validators);
  } catch (e) {
    if (!(e instanceof RepositoryError && e.kind === "not-found")) throw e;
  }
  if (res) {
    const { etag, lastModified } = res;
    if (res.status === 304) return { status: 304, url: inReleaseUrl, text: "", signerKey: null, etag, lastModified };
    const raw = utf8(await readAll(res, maxBytes));
    if (!keyring) return { status: 200, url: inReleaseUrl, text: await clearsignedText(raw, inReleaseUrl), signerKey: null, etag, lastModified };
    const v = await verifyClearsigned(raw, keyring, inReleaseUrl, now);
    return { status: 200, url: inReleaseUrl, text: v.text, signerKey: v.signerKey, etag, lastModified };
  }

  const releaseUrl = `${base}Release`;
  let release: HttpResponse;
  try {
    release = await http.get(releaseUrl, validators);
  } catch (e) {
    if (e instanceof RepositoryError && e.kind === "not-found") {
      throw new RepositoryError("not-found", `no InRelease or Release at ${base} (check repository.url, suite and flat)`, inReleaseUrl);
    }
    throw e;
  }
  const { etag, lastModified } = release;
  if (release.status === 304) return { status: 304, url: releaseUrl, text: "", signerKey: null, etag, lastModified };
  const data = await readAll(release, maxBytes);
  if (!keyring) return { status: 200, url: releaseUrl, text: utf8(data), signerKey: null, etag, lastModified };
  const sigUrl = `${base}Release.gpg`;
  let sigRes: HttpResponse;
  try {
    sigRes = await http.get(sigUrl);
  } catch (e) {
    if (e instanceof RepositoryError && e.kind === "not-found") {
      throw new RepositoryError("bad-signature", `${releaseUrl} is not signed: neither InRelease nor Release.gpg exists (set repository.unsigned only for a repository that is never signed)`, sigUrl);
    }
    throw e;
  }
  const sig = await readAll(sigRes, 1024 * 1024);
  const v = await verifyDetached(data, sig, keyring, releaseUrl, sigUrl, now);
  return { status: 200, url: releaseUrl, text: v.text, signerKey: v.signerKey, etag, lastModified };
}

function candidateUrls(base: string, c: IndexCandidate, byHash: boolean): string[] {
  const url = new URL(c.entry.path, base).href;
  if (!byHash) return [url];
  const dir = c.entry.path.includes("/") ? c.entry.path.slice(0, c.entry.path.lastIndexOf("/") + 1) : "";
  return [new URL(`${dir}by-hash/SHA256/${c.entry.sha256}`, base).href, url];
}

/**
 * Reads the configured package's builds from a signed apt repository: InRelease (or Release +
 * Release.gpg), verified against the keyring, freshness-checked, then the best Packages variant the
 * signed Release lists, verified by size and SHA256 as it streams in.
 *
 * Throws RepositoryError; never returns builds from an index it could not verify.
 */
export async function readRepository(config: RepositoryConfig, previous: PreviousRead = {}, options: ReadOptions = {}): Promise<RepositoryRead> {
  const now = options.now?.() ?? new Date();
  const timeoutMs = config.timeoutSeconds * 1000;
  // Release (+ signature) and the index each get the per-request limit; the whole read gets twice that.
  const http = new RepositoryHttp(timeoutMs, timeoutMs * 2, options.fetch);

  let keyring: Keyring | null = null;
  if (!config.unsigned) {
    if (config.keyring === undefined) throw new RepositoryError("unknown-key", "repository.keyring is not set and repository.unsigned is false");
    keyring = await loadKeyring(config.keyring);
  }

  // A cached Release only counts while its signer is still trusted (the keyring may have changed).
  const trustCache = config.unsigned ? true : previous.signerKey != null && keyring!.fingerprints.includes(previous.signerKey);
  const validators = trustCache ? { etag: previous.etag, lastModified: previous.lastModified } : {};

  const base = releaseBaseUrl(config);
  const release = await fetchRelease(http, base, keyring, validators, now);

  if (release.status === 304) {
    if (previous.validUntil && previous.validUntil.getTime() < now.getTime()) {
      throw new RepositoryError("expired", `${release.url} (unchanged since the last read) expired at ${previous.validUntil.toISOString()} (Valid-Until); the repository must be re-signed`, release.url);
    }
    return {
      status: "unchanged",
      builds: [],
      signerKey: previous.signerKey ?? null,
      releaseDate: previous.releaseDate ?? null,
      validUntil: previous.validUntil ?? null,
      etag: release.etag ?? previous.etag ?? null,
      lastModified: release.lastModified ?? previous.lastModified ?? null,
      indexSha256: previous.indexSha256 ?? null,
      releaseUrl: release.url,
      indexUrl: null,
      warnings: [],
    };
  }

  const info = parseRelease(release.text, release.url);
  checkRelease(info, release.url, {
    now,
    maxFutureSkewMs: MAX_CLOCK_SKEW_MS,
    suite: config.flat ? undefined : config.suite,
    previousDate: previous.releaseDate,
  });
  const selection = selectPackagesIndex(info, config, release.url);
  const common = {
    signerKey: release.signerKey,
    releaseDate: info.date,
    validUntil: info.validUntil,
    etag: release.etag,
    lastModified: release.lastModified,
    releaseUrl: release.url,
  };

  const same = previous.indexSha256 && selection.candidates.find((c) => c.entry.sha256 === previous.indexSha256);
  if (same) {
    return { ...common, status: "unchanged", builds: [], indexSha256: same.entry.sha256, indexUrl: null, warnings: [] };
  }

  let lastNotFound: RepositoryError | null = null;
  for (const candidate of selection.candidates) {
    if (candidate.entry.size > config.maxDownloadBytes) {
      const url = new URL(candidate.entry.path, base).href;
      throw new RepositoryError("too-large", `${url} is ${candidate.entry.size} bytes, more than repository.maxDownloadBytes (${config.maxDownloadBytes})`, url);
    }
    for (const url of candidateUrls(base, candidate, info.acquireByHash)) {
      let res: HttpResponse;
      try {
        res = await http.get(url);
      } catch (e) {
        // apt also falls back to the next variant (or the plain name for by-hash) when one is missing.
        if (e instanceof RepositoryError && e.kind === "not-found") {
          lastNotFound = e;
          continue;
        }
        throw e;
      }
      const index = await readPackagesIndex(res, candidate, selection.uncompressed, config, config.maxDownloadBytes);
      return { ...common, status: "changed", builds: index.builds, indexSha256: candidate.entry.sha256, indexUrl: url, warnings: index.warnings };
    }
  }
  throw new RepositoryError(
    "not-found",
    `${release.url} lists ${selection.candidates.map((c) => c.entry.path).join(", ")}, but none could be downloaded (${lastNotFound?.message ?? "not found"})`,
    lastNotFound?.file,
  );
}
