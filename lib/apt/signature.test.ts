import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RepositoryError } from "./errors";
import { clearsignedText, loadKeyring, verifyClearsigned, verifyDetached, type Keyring } from "./signature";
import { createSignedRepo, type KeyName, type RepoFixture } from "./testing/signed-repo";

let fx: RepoFixture;
const file = "InRelease";

beforeAll(async () => {
  fx = await createSignedRepo();
});
afterAll(async () => {
  await fx?.close();
});

function signedFiles(signers: KeyName[]) {
  fx.publish({ builds: [{ package: "scap", version: "1.0-1" }], signers });
  const dir = path.join(fx.root, fx.releaseDir);
  return {
    inRelease: readFileSync(path.join(dir, "InRelease"), "utf8"),
    release: readFileSync(path.join(dir, "Release")),
    detached: readFileSync(path.join(dir, "Release.gpg")),
  };
}

/** apt's verdict from gpgv's status lines: a VALIDSIG from a keyring key and no BADSIG. */
function gpgvAccepts(keyrings: string[], files: Record<string, string | Buffer>): boolean {
  const dir = path.join(fx.dir, "gpgv");
  spawnSync("mkdir", ["-p", dir]);
  const paths = Object.entries(files).map(([name, data]) => {
    const p = path.join(dir, name);
    writeFileSync(p, data);
    return p;
  });
  const r = spawnSync("gpgv", ["--status-fd", "1", ...keyrings.flatMap((k) => ["--keyring", k]), ...paths], { encoding: "utf8" });
  return /^\[GNUPG:\] VALIDSIG /m.test(r.stdout) && !/^\[GNUPG:\] BADSIG /m.test(r.stdout);
}

async function outcome(p: Promise<{ signerKey: string }>): Promise<string> {
  try {
    return `ok ${(await p).signerKey}`;
  } catch (e) {
    if (e instanceof RepositoryError) return e.kind;
    throw e;
  }
}

describe("loadKeyring", () => {
  it("reads armored and binary files, several keys per file and several files", async () => {
    const both = path.join(fx.dir, "ab.asc");
    writeFileSync(both, readFileSync(fx.keys.a.armoredPath, "utf8") + "\n" + readFileSync(fx.keys.b.armoredPath, "utf8"));
    const bin = path.join(fx.dir, "bc.gpg");
    writeFileSync(bin, Buffer.concat([readFileSync(fx.keys.b.binaryPath), readFileSync(fx.keys.c.binaryPath)]));
    expect((await loadKeyring(both)).fingerprints).toEqual([fx.keys.a.fingerprint, fx.keys.b.fingerprint]);
    expect((await loadKeyring(bin)).fingerprints).toEqual([fx.keys.b.fingerprint, fx.keys.c.fingerprint]);
    expect((await loadKeyring([fx.keys.a.binaryPath, fx.keys.c.armoredPath])).fingerprints).toEqual([fx.keys.a.fingerprint, fx.keys.c.fingerprint]);
  });

  it("explains a missing file, a GnuPG keybox and a file that is not a key", async () => {
    await expect(loadKeyring(path.join(fx.dir, "nope.gpg"))).rejects.toThrow(/nope\.gpg \(repository\.keyring\): file not found/);
    await expect(loadKeyring(path.join(fx.dir, "g", "pubring.kbx"))).rejects.toThrow(/is a GnuPG keybox.*gpg --export/);
    const junk = path.join(fx.dir, "junk.asc");
    writeFileSync(junk, "not a key\n");
    await expect(loadKeyring(junk)).rejects.toMatchObject({ kind: "unknown-key", message: expect.stringContaining("not a readable OpenPGP public key") });
  });
});

describe("verifyClearsigned (checked against gpgv)", () => {
  let a: Keyring;
  let c: Keyring;
  beforeAll(async () => {
    a = await loadKeyring(fx.keys.a.armoredPath);
    c = await loadKeyring(fx.keys.c.binaryPath);
  });

  it("accepts a good signature and returns only the signed text", async () => {
    const { inRelease } = signedFiles(["a"]);
    const v = await verifyClearsigned(inRelease, a, file);
    expect(v.signerKey).toBe(fx.keys.a.fingerprint);
    expect(v.text).toMatch(/^Date: .*\n[\s\S]*SHA256:\n/);
    expect(v.text).not.toContain("PGP");
    expect(gpgvAccepts([fx.keys.a.binaryPath], { InRelease: inRelease })).toBe(true);
  });

  it("rejects a key outside the keyring as unknown-key, naming the key", async () => {
    const { inRelease } = signedFiles(["a"]);
    await expect(verifyClearsigned(inRelease, c, file)).rejects.toMatchObject({
      kind: "unknown-key",
      message: expect.stringContaining(`signed by key ${fx.keys.a.fingerprint.slice(-16)}`),
    });
    expect(gpgvAccepts([fx.keys.c.binaryPath], { InRelease: inRelease })).toBe(false);
  });

  it("accepts an InRelease signed by several keys when one of them is trusted", async () => {
    const { inRelease } = signedFiles(["a", "c"]);
    expect(await outcome(verifyClearsigned(inRelease, c, file))).toBe(`ok ${fx.keys.c.fingerprint}`);
    expect(await outcome(verifyClearsigned(inRelease, a, file))).toBe(`ok ${fx.keys.a.fingerprint}`);
    expect(gpgvAccepts([fx.keys.c.binaryPath], { InRelease: inRelease })).toBe(true);
    const b = await loadKeyring(fx.keys.b.armoredPath);
    expect(await outcome(verifyClearsigned(inRelease, b, file))).toBe("unknown-key");
  });

  it("rejects content changed after signing", async () => {
    const { inRelease } = signedFiles(["a", "b"]);
    const changed = inRelease.replace("Label: test", "Label: tesT");
    expect(changed).not.toBe(inRelease);
    await expect(verifyClearsigned(changed, a, file)).rejects.toMatchObject({ kind: "bad-signature", message: expect.stringContaining("changed after signing") });
    expect(gpgvAccepts([fx.keys.a.binaryPath], { InRelease: changed })).toBe(false);
  });

  it("rejects data outside the signed block, a second block and unsigned text", async () => {
    const { inRelease } = signedFiles(["a"]);
    expect(await outcome(verifyClearsigned(`${inRelease}\nSHA256:\n evil\n`, a, file))).toBe("bad-signature");
    expect(await outcome(verifyClearsigned(`Origin: evil\n${inRelease}`, a, file))).toBe("bad-signature");
    expect(await outcome(verifyClearsigned(`${inRelease}\n${inRelease}`, a, file))).toBe("bad-signature");
    expect(await outcome(verifyClearsigned("Origin: test\nSuite: beta\n", a, file))).toBe("bad-signature");
    const noSig = inRelease.replace(/-----BEGIN PGP SIGNATURE-----[\s\S]*/, "");
    expect(await outcome(verifyClearsigned(noSig, a, file))).toBe("bad-signature");
  });

  it("rejects a corrupted signature block", async () => {
    const { inRelease } = signedFiles(["a"]);
    const lines = inRelease.split("\n");
    const i = lines.findIndex((l) => l.startsWith("-----BEGIN PGP SIGNATURE-----")) + 2;
    lines[i] = lines[i]!.slice(0, 10) + (lines[i]![10] === "A" ? "B" : "A") + lines[i]!.slice(11);
    expect(await outcome(verifyClearsigned(lines.join("\n"), a, file))).toBe("bad-signature");
  });

  it("reads the text without verifying for an unsigned repository", async () => {
    const { inRelease } = signedFiles(["c"]);
    expect(await clearsignedText(inRelease, file)).toMatch(/^Date: /);
  });
});

describe("verifyDetached (checked against gpgv)", () => {
  it("verifies Release with an armored Release.gpg, and rejects a changed Release", async () => {
    const keyring = await loadKeyring(fx.keys.b.binaryPath);
    const { release, detached } = signedFiles(["b"]);
    const v = await verifyDetached(release, detached, keyring, "Release", "Release.gpg");
    expect(v.signerKey).toBe(fx.keys.b.fingerprint);
    expect(v.text).toBe(release.toString("utf8"));
    expect(gpgvAccepts([fx.keys.b.binaryPath], { "Release.gpg": detached, Release: release })).toBe(true);

    const changed = Buffer.from(release.toString("utf8").replace("Label: test", "Label: tesT"));
    expect(await outcome(verifyDetached(changed, detached, keyring, "Release", "Release.gpg"))).toBe("bad-signature");
    expect(gpgvAccepts([fx.keys.b.binaryPath], { "Release.gpg": detached, Release: changed })).toBe(false);
    expect(await outcome(verifyDetached(release, Buffer.from("garbage"), keyring, "Release", "Release.gpg"))).toBe("bad-signature");
    expect(await outcome(verifyDetached(release, detached, await loadKeyring(fx.keys.a.binaryPath), "Release", "Release.gpg"))).toBe("unknown-key");
  });
});
