// OpenSSH known_hosts, read the way ssh(1) reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
// Pure: the transport reads the file and hands the text in.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export type HostKeyVerdict = "ok" | "unknown" | "changed" | "revoked";

export interface KnownHostEntry {
  /** 1-based line in the file, for messages. */
  line: number;
  marker: "revoked" | "cert-authority" | null;
  /** Comma-separated patterns (`host`, `[host]:port`, `*.example`, `!bad`), or a hashed name. */
  hosts: { kind: "patterns"; patterns: string[] } | { kind: "hashed"; salt: Buffer; hash: Buffer };
  keyType: string;
  /** The key blob in SSH wire format, as the server sends it during key exchange. */
  key: Buffer;
}

/** The name a host is looked up by: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port = 22): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** The key type named inside an SSH key blob (its first string), or null if the blob is malformed. */
export function keyBlobType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return null;
  return blob.subarray(4, 4 + len).toString("latin1");
}

/** `SHA256:...` as ssh-keygen -l prints it. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

function decodeBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const buf = Buffer.from(text, "base64");
  return buf.length > 0 ? buf : null;
}

/** Parses known_hosts text; malformed lines are skipped, as ssh(1) does. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const fields = line.split(/[ \t]+/);
    let marker: KnownHostEntry["marker"] = null;
    if (fields[0]!.startsWith("@")) {
      const m = fields.shift()!;
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else return;
    }
    const [hostField, keyType, keyText] = fields;
    if (!hostField || !keyType || !keyText) return;
    const key = decodeBase64(keyText);
    // ssh(1) also rejects a line whose blob names another type than the line does.
    if (!key || keyBlobType(key) !== keyType) return;
    let hosts: KnownHostEntry["hosts"];
    if (hostField.startsWith("|1|")) {
      const [salt, hash] = hostField.slice(3).split("|").map(decodeBase64);
      if (!salt || !hash || salt.length !== 20 || hash.length !== 20) return;
      hosts = { kind: "hashed", salt, hash };
    } else if (hostField.startsWith("|")) {
      return;
    } else {
      hosts = { kind: "patterns", patterns: hostField.toLowerCase().split(",").filter((p) => p !== "") };
    }
    entries.push({ line: i + 1, marker, hosts, keyType, key });
  });
  return entries;
}

const compiled = new Map<string, RegExp>();

// ssh's match_pattern: `*` and `?` wildcards over the whole name. Every connection checks every
// line, so plain names skip the regular expression and patterns are compiled once.
function matchPattern(name: string, pattern: string): boolean {
  if (!pattern.includes("*") && !pattern.includes("?")) return name === pattern;
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".")}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(name);
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.kind === "hashed") {
    const mac = createHmac("sha1", entry.hosts.salt).update(name).digest();
    return timingSafeEqual(mac, entry.hosts.hash);
  }
  // A matching negated pattern vetoes the line even if a positive one matches too.
  let matched = false;
  for (const p of entry.hosts.patterns) {
    if (p.startsWith("!")) {
      if (matchPattern(name, p.slice(1))) return false;
    } else if (matchPattern(name, p)) {
      matched = true;
    }
  }
  return matched;
}

function lookupNames(host: string | readonly string[], port: number): string[] {
  const hosts = typeof host === "string" ? [host] : host;
  return [...new Set(hosts.map((h) => knownHostName(h, port)))];
}

/** Entries (without markers) that name the host; they say which key types to ask the server for. */
export function entriesForHost(entries: readonly KnownHostEntry[], host: string | readonly string[], port = 22): KnownHostEntry[] {
  const names = lookupNames(host, port);
  return entries.filter((e) => e.marker === null && names.some((n) => entryMatches(e, n)));
}

/**
 * Checks the key a server presented. `host` may list every name the host is known by (its
 * configured name and the address dialled); a key listed for any of them is accepted.
 * Certificate authorities are not trusted: servers here present plain keys.
 */
export function verifyHostKey(
  entries: readonly KnownHostEntry[],
  host: string | readonly string[],
  port: number,
  key: Buffer,
): HostKeyVerdict {
  // A revoked key is refused whatever host line it sits on: it must never be accepted again.
  if (entries.some((e) => e.marker === "revoked" && e.key.equals(key))) return "revoked";
  const known = entriesForHost(entries, host, port);
  if (known.length === 0) return "unknown";
  return known.some((e) => e.key.equals(key)) ? "ok" : "changed";
}
