import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyBlobType, keyFingerprint, knownHostName, parseKnownHosts, verifyHostKey } from "./known-hosts";

let dir: string;
const keys: Record<string, { line: string; blob: Buffer }> = {};

function makeKey(name: string, type: "ed25519" | "ecdsa" | "rsa") {
  const file = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", "", "-C", name, "-f", file]);
  const line = readFileSync(`${file}.pub`, "utf8").trim();
  const [keyType, b64] = line.split(" ");
  keys[name] = { line: `${keyType} ${b64}`, blob: Buffer.from(b64!, "base64") };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "scap-known-hosts-"));
  makeKey("a", "ed25519");
  makeKey("b", "ed25519");
  makeKey("c", "ecdsa");
  makeKey("r", "rsa");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const k = (name: string) => keys[name]!;

describe("parseKnownHosts", () => {
  it("reads plain, bracketed, marker and comment lines and skips malformed ones", () => {
    const text = [
      "# comment",
      "",
      `host1,127.0.2.1 ${k("a").line} trailing comment`,
      `[host2]:2222 ${k("b").line}`,
      `@revoked * ${k("c").line}`,
      `@cert-authority *.example ${k("r").line}`,
      `@bogus host3 ${k("a").line}`,
      `host4 ssh-ed25519 not-base64!`,
      `host5 ssh-rsa ${k("a").line.split(" ")[1]}`,
      `|2|abc|def ${k("a").line}`,
    ].join("\n");
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.keyType])).toEqual([
      [3, null, "ssh-ed25519"],
      [4, null, "ssh-ed25519"],
      [5, "revoked", "ecdsa-sha2-nistp256"],
      [6, "cert-authority", "ssh-rsa"],
    ]);
    expect(entries[0]!.hosts).toEqual({ kind: "patterns", patterns: ["host1", "127.0.2.1"] });
    expect(keyBlobType(entries[0]!.key)).toBe("ssh-ed25519");
  });

  it("formats lookup names like ssh does", () => {
    expect(knownHostName("Host1", 22)).toBe("host1");
    expect(knownHostName("127.0.2.1", 2222)).toBe("[127.0.2.1]:2222");
  });

  it("prints fingerprints like ssh-keygen -l", () => {
    const out = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", path.join(dir, "a.pub")], { encoding: "utf8" });
    expect(out).toContain(keyFingerprint(k("a").blob));
  });
});

describe("verifyHostKey", () => {
  it("accepts the listed key and tells unknown from changed", () => {
    const entries = parseKnownHosts(`host1,127.0.2.1 ${k("a").line}\n`);
    expect(verifyHostKey(entries, "host1", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "127.0.2.1", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "HOST1", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "host1", 22, k("b").blob)).toBe("changed");
    expect(verifyHostKey(entries, "host2", 22, k("a").blob)).toBe("unknown");
    // A host known on port 22 is a different entry from the same name on another port.
    expect(verifyHostKey(entries, "host1", 2222, k("a").blob)).toBe("unknown");
  });

  it("accepts a key listed for any of the host's names", () => {
    const entries = parseKnownHosts(`127.0.2.9 ${k("a").line}\n`);
    expect(verifyHostKey(entries, ["beta-9", "127.0.2.9"], 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, ["beta-9", "127.0.2.9"], 22, k("b").blob)).toBe("changed");
  });

  it("matches [host]:port entries only on that port", () => {
    const entries = parseKnownHosts(`[127.0.2.1]:2222 ${k("a").line}\n`);
    expect(verifyHostKey(entries, "127.0.2.1", 2222, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "127.0.2.1", 22, k("a").blob)).toBe("unknown");
    expect(verifyHostKey(entries, "127.0.2.1", 2222, k("b").blob)).toBe("changed");
  });

  it("matches wildcards and lets a negated pattern veto the line", () => {
    const entries = parseKnownHosts(`*.beta.example,!bad.beta.example ${k("a").line}\n`);
    expect(verifyHostKey(entries, "db1.beta.example", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "bad.beta.example", 22, k("a").blob)).toBe("unknown");
    expect(verifyHostKey(entries, "db1Xbeta.example", 22, k("a").blob)).toBe("unknown");
  });

  it("refuses a revoked key even when the host also lists it", () => {
    const entries = parseKnownHosts(`host1 ${k("a").line}\n@revoked * ${k("a").line}\n`);
    expect(verifyHostKey(entries, "host1", 22, k("a").blob)).toBe("revoked");
    expect(verifyHostKey(entries, "elsewhere", 22, k("a").blob)).toBe("revoked");
  });

  it("does not trust certificate authority lines", () => {
    const entries = parseKnownHosts(`@cert-authority host1 ${k("a").line}\n`);
    expect(verifyHostKey(entries, "host1", 22, k("a").blob)).toBe("unknown");
  });

  it("matches entries hashed by ssh-keygen -H", () => {
    const file = path.join(dir, "known_hosts_hashed");
    writeFileSync(file, `host1,127.0.2.1 ${k("a").line}\n[127.0.2.2]:2222 ${k("b").line}\n@revoked host3 ${k("c").line}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file], { stdio: "ignore" });
    const text = readFileSync(file, "utf8");
    // -H writes one hashed line per name and leaves no name in clear.
    expect(text).not.toMatch(/host1|127\.0\.2/);
    const entries = parseKnownHosts(text);
    expect(entries.filter((e) => e.hosts.kind === "hashed").length).toBeGreaterThanOrEqual(3);
    expect(verifyHostKey(entries, "host1", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "127.0.2.1", 22, k("a").blob)).toBe("ok");
    expect(verifyHostKey(entries, "127.0.2.2", 2222, k("b").blob)).toBe("ok");
    expect(verifyHostKey(entries, "127.0.2.2", 22, k("b").blob)).toBe("unknown");
    expect(verifyHostKey(entries, "host1", 22, k("b").blob)).toBe("changed");
    expect(verifyHostKey(entries, "host9", 22, k("a").blob)).toBe("unknown");
    expect(verifyHostKey(entries, "host3", 22, k("c").blob)).toBe("revoked");
  });

  it("agrees with ssh-keygen -F on hashed lookups", () => {
    const file = path.join(dir, "known_hosts_agree");
    writeFileSync(file, `alpha ${k("a").line}\n[beta]:2022 ${k("r").line}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file], { stdio: "ignore" });
    const entries = parseKnownHosts(readFileSync(file, "utf8"));
    for (const [host, port, blob] of [
      ["alpha", 22, k("a").blob],
      ["beta", 2022, k("r").blob],
      ["gamma", 22, k("a").blob],
    ] as const) {
      const name = knownHostName(host, port);
      let found = true;
      try {
        execFileSync("ssh-keygen", ["-F", name, "-f", file], { stdio: "ignore" });
      } catch {
        found = false;
      }
      expect(verifyHostKey(entries, host, port, blob) === "ok").toBe(found);
    }
  });
});
