import "server-only";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as xzModule from "xz-decompress";
import { Deb822Error, Deb822Selector, type Deb822Paragraph } from "./deb822";
import { RepositoryError } from "./errors";
import type { HttpResponse } from "./fetch";
import type { Compression, IndexFileEntry } from "./release";
import { readChunks } from "./stream";
import { isValidVersion } from "./version";

/** One .deb of the configured package as the verified index lists it. */
export interface RepositoryBuild {
  package: string;
  version: string;
  architecture: string;
  /** Path of the .deb relative to the repository URL (the flat repository's folder for flat ones). */
  filename: string;
  sha256: string;
  size: number;
  /** Every field of the stanza, names as written. */
  fields: Record<string, string>;
}

export interface PackagesSelection {
  package: string;
  architecture: string;
}

export interface PackagesResult {
  builds: RepositoryBuild[];
  /** Stanzas of the package that could not be used, and why. */
  warnings: string[];
  /** Stanzas in the whole index. */
  paragraphs: number;
}

const SLICE = 64 * 1024;

// A webpack UMD bundle: named exports exist under CommonJS and bundlers, but Node's native ESM loader
// only sees its `default`.
const XzReadableStream =
  xzModule.XzReadableStream ?? (xzModule as unknown as { default: typeof import("xz-decompress") }).default.XzReadableStream;

const XZ_ERRORS: Record<string, string> = {
  "2": "unsupported integrity check",
  "3": "out of memory",
  "4": "needs more memory than allowed",
  "5": "not in xz format",
  "6": "unsupported xz options",
  "7": "corrupt data",
  "8": "unexpected end of data",
};

function hex(h: ReturnType<typeof createHash>): string {
  return h.digest("hex");
}

function short(hash: string): string {
  return `${hash.slice(0, 16)}…`;
}

/** The size and SHA256 a signed list gives for a file. */
export interface ExpectedFile {
  size: number;
  /** Lower-case hex. */
  sha256: string;
}

/**
 * Hashes and counts bytes as they arrive. Exceeding the signed size fails at once, so a server
 * cannot make us read more than the signed list promised. `listedBy` names that list in messages.
 */
export class Verifier {
  private readonly hash = createHash("sha256");
  private received = 0;

  constructor(
    private readonly expected: ExpectedFile,
    private readonly url: string,
    private readonly listedBy = "the signed Release",
    private readonly what = "",
  ) {}

  update(chunk: Uint8Array): void {
    this.received += chunk.length;
    if (this.received > this.expected.size) {
      throw new RepositoryError(
        "hash-mismatch",
        `${this.url}${this.what}: more than the ${this.expected.size} bytes ${this.listedBy} lists (Hash Sum mismatch)`,
        this.url,
      );
    }
    this.hash.update(chunk);
  }

  finish(): void {
    if (this.received !== this.expected.size) {
      throw new RepositoryError(
        "hash-mismatch",
        `${this.url}${this.what}: got ${this.received} bytes, ${this.listedBy} lists ${this.expected.size} (truncated or replaced file)`,
        this.url,
      );
    }
    const got = hex(this.hash);
    if (got !== this.expected.sha256) {
      throw new RepositoryError(
        "hash-mismatch",
        `${this.url}${this.what}: SHA256 is ${short(got)}, ${this.listedBy} lists ${short(this.expected.sha256)} (Hash Sum mismatch)`,
        this.url,
      );
    }
  }
}

/** Refuses a response whose Content-Length already differs from the signed size, before reading it. */
export async function checkAnnouncedLength(res: HttpResponse, expected: ExpectedFile, listedBy = "the signed Release"): Promise<void> {
  if (res.contentLength !== null && res.contentLength !== expected.size) {
    await res.discard();
    throw new RepositoryError(
      "hash-mismatch",
      `${res.url}: the server announces ${res.contentLength} bytes, ${listedBy} lists ${expected.size} (truncated or replaced file)`,
      res.url,
    );
  }
}

/** Reads a whole response, checking it against its signed size and SHA256, without keeping it. */
export async function verifyDownload(res: HttpResponse, expected: ExpectedFile, listedBy?: string): Promise<void> {
  await checkAnnouncedLength(res, expected, listedBy);
  const verifier = new Verifier(expected, res.url, listedBy);
  for await (const chunk of res.chunks()) verifier.update(chunk);
  verifier.finish();
}

/** Counts decompressed bytes against the download cap, so a small file cannot expand without bound. */
function capped(maxBytes: number, url: string) {
  let total = 0;
  return (chunk: Uint8Array) => {
    total += chunk.length;
    if (total > maxBytes) {
      throw new RepositoryError("too-large", `${url} decompresses to more than ${maxBytes} bytes (repository.maxDownloadBytes)`, url);
    }
  };
}

function slices(data: Uint8Array): Generator<Uint8Array> {
  return (function* () {
    for (let off = 0; off < data.length; off += SLICE) yield data.subarray(off, off + SLICE);
  })();
}

async function* gunzip(data: Uint8Array): AsyncGenerator<Uint8Array> {
  // Fed in slices so zlib's output waits for the parser instead of piling up in memory.
  const source = Readable.from(slices(data), { objectMode: false });
  const z = createGunzip({ chunkSize: SLICE });
  source.on("error", (e) => z.destroy(e));
  source.pipe(z);
  yield* z;
}

// The WASM decoder allows one context at a time and waits for it globally; queueing here keeps an
// abandoned stream from ever holding that lock.
let xzQueue: Promise<void> = Promise.resolve();

async function* unxz(data: Uint8Array): AsyncGenerator<Uint8Array> {
  let release!: () => void;
  const previous = xzQueue;
  xzQueue = new Promise<void>((r) => (release = r));
  await previous;
  try {
    const it = slices(data);
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        const n = it.next();
        if (n.done) c.close();
        else c.enqueue(n.value);
      },
    });
    yield* readChunks(new XzReadableStream(source), (e) => {
      const code = /error code (\d+)/.exec((e as Error).message)?.[1];
      return new Error(code && XZ_ERRORS[code] ? XZ_ERRORS[code] : (e as Error).message);
    });
  } finally {
    release();
  }
}

function decompress(compression: Exclude<Compression, "none">, data: Uint8Array): AsyncGenerator<Uint8Array> {
  return compression === "gz" ? gunzip(data) : unxz(data);
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * `relative` resolved against `base` (a folder URL ending in "/"), or null when the result leaves
 * that folder or carries a query or fragment. The URL parser decodes "%2e%2e" as "..", so a check of
 * the text alone is not enough.
 */
export function resolveUnder(base: string, relative: string): string | null {
  const root = new URL(base);
  let url: URL;
  try {
    url = new URL(relative, root);
  } catch {
    return null;
  }
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname) || url.search || url.hash) return null;
  return url.href;
}

// Any folder will do: a relative path that stays under one stays under every other.
const PROBE_BASE = "http://repository.invalid/base/";

// Percent signs and backslashes are refused outright: the URL parser turns them into ".." and "/",
// and no package name, version or architecture (what a pool file name is made of) contains them.
function isPlainRelativePath(filename: string): boolean {
  if (!filename || filename.startsWith("/") || filename.split("/").includes("..") || /[\s\\%?#]|^[a-z][a-z0-9+.-]*:/i.test(filename)) return false;
  return resolveUnder(PROBE_BASE, filename) !== null;
}

/** A stanza as a build, or the reason it cannot be one. */
export function toBuild(p: Deb822Paragraph, sel: PackagesSelection): RepositoryBuild | string {
  const version = p.get("Version") ?? "";
  const where = `stanza at line ${p.line} (${sel.package} ${version || "without Version"})`;
  if (!isValidVersion(version)) return `${where}: Version is not a valid Debian version`;
  const architecture = p.get("Architecture") ?? "";
  if (architecture !== sel.architecture && architecture !== "all") return `${where}: Architecture ${architecture || "missing"}`;
  const filename = p.get("Filename") ?? "";
  if (!isPlainRelativePath(filename)) {
    return `${where}: Filename ${JSON.stringify(filename)} is missing or not a plain relative path`;
  }
  const sha256 = (p.get("SHA256") ?? "").toLowerCase();
  if (!SHA256.test(sha256)) return `${where}: no SHA256 for the .deb`;
  const sizeText = p.get("Size") ?? "";
  if (!/^[0-9]{1,15}$/.test(sizeText)) return `${where}: Size ${JSON.stringify(sizeText)} is not a byte count`;
  return { package: sel.package, version, architecture, filename, sha256, size: Number(sizeText), fields: p.toObject() };
}

/**
 * Downloads one Packages variant, checks its size and SHA256 against the signed entry while it
 * arrives, and keeps the stanzas of the selected package. A compressed index is verified before
 * it is decompressed (no unverified bytes reach the decompressor), then decompressed and parsed as a
 * stream; a plain index is parsed as it arrives and its result used only once the hash matched.
 * Stanzas are picked on the raw bytes; only the package's own are decoded and parsed.
 */
export async function readPackagesIndex(
  res: HttpResponse,
  candidate: { entry: IndexFileEntry; compression: Compression },
  uncompressed: IndexFileEntry | null,
  sel: PackagesSelection,
  maxBytes: number,
): Promise<PackagesResult> {
  const { entry, compression } = candidate;
  const url = res.url;
  await checkAnnouncedLength(res, entry);

  const found: Deb822Paragraph[] = [];
  const parser = new Deb822Selector({ onParagraph: (p) => found.push(p), select: { field: "Package", values: [sel.package] } });
  const verifier = new Verifier(entry, url);

  if (compression === "none") {
    let parseError: unknown = null;
    for await (const chunk of res.chunks()) {
      verifier.update(chunk);
      if (parseError === null) {
        try {
          parser.write(chunk);
        } catch (e) {
          // Keep reading: a changed file must be reported as a hash mismatch, not a syntax error.
          parseError = e;
        }
      }
    }
    verifier.finish();
    if (parseError === null) {
      try {
        parser.end();
      } catch (e) {
        parseError = e;
      }
    }
    if (parseError !== null) throw asParseError(parseError, url);
  } else {
    // The signed size is known, so the compressed file lands in one buffer of exactly that size.
    const data = Buffer.allocUnsafe(entry.size);
    let offset = 0;
    for await (const chunk of res.chunks()) {
      verifier.update(chunk);
      data.set(chunk, offset);
      offset += chunk.length;
    }
    verifier.finish();
    const inner = uncompressed ? new Verifier(uncompressed, url, undefined, " (decompressed)") : null;
    const cap = capped(maxBytes, url);
    try {
      for await (const chunk of decompress(compression, data)) {
        cap(chunk);
        inner?.update(chunk);
        parser.write(chunk);
      }
      parser.end();
    } catch (e) {
      if (e instanceof RepositoryError) throw e;
      if (e instanceof Deb822Error) throw asParseError(e, url);
      throw new RepositoryError("parse-error", `${url} matches its signed hash but cannot be decompressed (${(e as Error).message})`, url);
    }
    inner?.finish();
  }

  const builds: RepositoryBuild[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  for (const p of found) {
    const b = toBuild(p, sel);
    if (typeof b === "string") {
      // Stanzas of other architectures are simply not ours.
      if (!b.includes(": Architecture ")) warnings.push(`${url}: ${b}`);
      continue;
    }
    const key = `${b.version} ${b.architecture}`;
    if (seen.has(key)) {
      warnings.push(`${url}: ${sel.package} ${b.version} (${b.architecture}) is listed twice; the first stanza is used`);
      continue;
    }
    seen.add(key);
    builds.push(b);
  }
  return { builds, warnings, paragraphs: parser.paragraphs };
}

function asParseError(e: unknown, url: string): RepositoryError {
  if (e instanceof RepositoryError) return e;
  if (e instanceof Deb822Error) return new RepositoryError("parse-error", `${url}: ${e.message}`, url);
  return new RepositoryError("parse-error", `${url}: ${(e as Error).message}`, url);
}
