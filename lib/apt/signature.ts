import "server-only";
import { readFile } from "node:fs/promises";
import * as openpgp from "openpgp";
import { RepositoryError } from "./errors";

/** Trusted public keys, from one or more keyring files (armored or binary, several keys each). */
export interface Keyring {
  keys: openpgp.PublicKey[];
  files: string[];
  /** Upper-case primary key fingerprints. */
  fingerprints: string[];
}

export interface VerifiedText {
  /** The signed text only; anything around the signed part is never returned. */
  text: string;
  /** Upper-case fingerprint of the primary key whose (sub)key made the accepted signature. */
  signerKey: string;
}

/** A server clock slightly ahead of ours must not make a fresh signature look "from the future". */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const KEYBOX_MAGIC = "KBXf";

export async function loadKeyring(paths: string | readonly string[]): Promise<Keyring> {
  const files = typeof paths === "string" ? [paths] : [...paths];
  const keys: openpgp.PublicKey[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new RepositoryError("unknown-key", `keyring ${file} (repository.keyring): ${code === "ENOENT" ? "file not found" : `cannot be read (${code})`}`, file);
    }
    keys.push(...(await readKeyFile(file, data)));
  }
  if (keys.length === 0) throw new RepositoryError("unknown-key", `keyring ${files.join(", ")} holds no public key`, files[0]);
  return { keys, files, fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()) };
}

async function readKeyFile(file: string, data: Buffer): Promise<openpgp.PublicKey[]> {
  if (data.length >= 12 && data.subarray(8, 12).toString("latin1") === KEYBOX_MAGIC) {
    throw new RepositoryError(
      "unknown-key",
      `keyring ${file} is a GnuPG keybox, not an OpenPGP keyring; export the key with \`gpg --export KEYID > file.gpg\` (or --armor for .asc)`,
      file,
    );
  }
  const text = data.toString("latin1");
  try {
    if (/^\s*-----BEGIN PGP PUBLIC KEY BLOCK-----/.test(text)) {
      // Several armored blocks may be concatenated in one .asc file; openpgp reads one per call.
      const blocks = text.match(/-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----/g) ?? [];
      const out: openpgp.PublicKey[] = [];
      for (const armoredKeys of blocks) out.push(...(await openpgp.readKeys({ armoredKeys })));
      return out;
    }
    return await openpgp.readKeys({ binaryKeys: new Uint8Array(data) });
  } catch (e) {
    throw new RepositoryError("unknown-key", `keyring ${file} is not a readable OpenPGP public key file (${(e as Error).message})`, file);
  }
}

interface SignatureCheck {
  keyID: openpgp.KeyID;
  verified: Promise<true>;
}

/** Which trusted key a signature's key ID belongs to (a primary key or one of its subkeys). */
function findKey(keyring: Keyring, keyID: openpgp.KeyID): openpgp.PublicKey | undefined {
  return keyring.keys.find((k) => k.getKeys(keyID).length > 0);
}

/**
 * Accepted when at least one signature verifies with a trusted key. A failing signature next to a
 * good one (say, from an expired key kept in the keyring across a key rotation) does not spoil it.
 */
async function decide(checks: SignatureCheck[], keyring: Keyring, file: string): Promise<string> {
  if (checks.length === 0) throw new RepositoryError("bad-signature", `${file} carries no signature`, file);
  let good: openpgp.PublicKey | undefined;
  const bad: string[] = [];
  const unknown: string[] = [];
  for (const c of checks) {
    const key = findKey(keyring, c.keyID);
    if (!key) {
      unknown.push(c.keyID.toHex().toUpperCase());
      c.verified.catch(() => {});
      continue;
    }
    try {
      await c.verified;
      good ??= key;
    } catch (e) {
      bad.push(`key ${key.getFingerprint().toUpperCase()}: ${reason(e)}`);
    }
  }
  if (good) return good.getFingerprint().toUpperCase();
  if (bad.length > 0) throw new RepositoryError("bad-signature", `${file}: signature does not verify (${bad.join("; ")})`, file);
  throw new RepositoryError(
    "unknown-key",
    `${file} is signed by key ${unknown.join(", ")}, which is not in the trusted keyring (${keyring.files.join(", ")}; trusted: ${keyring.fingerprints.join(", ")})`,
    file,
  );
}

function reason(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  if (/digest did not match|signature is invalid|Invalid signature/i.test(m)) return "the content was changed after signing (BADSIG)";
  return m;
}

const BEGIN_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----";
const END_SIGNATURE = "-----END PGP SIGNATURE-----";

/**
 * apt refuses an InRelease with anything but whitespace around the signed block: extra text is
 * where an attacker would hide unsigned fields.
 */
function checkClearsignedShape(text: string, file: string): void {
  const start = text.indexOf(BEGIN_SIGNED);
  const end = text.lastIndexOf(END_SIGNATURE);
  if (start === -1 || end === -1) throw new RepositoryError("bad-signature", `${file} is not an OpenPGP clearsigned file (no signed block)`, file);
  if (text.slice(0, start).trim() !== "" || text.slice(end + END_SIGNATURE.length).trim() !== "") {
    throw new RepositoryError("bad-signature", `${file} has data outside its signed block`, file);
  }
  if (text.indexOf(BEGIN_SIGNED, start + 1) !== -1) throw new RepositoryError("bad-signature", `${file} holds more than one signed block`, file);
}

async function readClearsigned(text: string, file: string): Promise<openpgp.CleartextMessage> {
  checkClearsignedShape(text, file);
  try {
    return await openpgp.readCleartextMessage({ cleartextMessage: text });
  } catch (e) {
    throw new RepositoryError("bad-signature", `${file}: the signature cannot be read (${(e as Error).message})`, file);
  }
}

function verificationDate(now: Date): Date {
  return new Date(now.getTime() + MAX_CLOCK_SKEW_MS);
}

/** Verifies a clearsigned InRelease; returns only the signed text. */
export async function verifyClearsigned(text: string, keyring: Keyring, file: string, now = new Date()): Promise<VerifiedText> {
  const message = await readClearsigned(text, file);
  let result: openpgp.VerifyMessageResult<string>;
  try {
    result = await openpgp.verify({ message, verificationKeys: keyring.keys, date: verificationDate(now) });
  } catch (e) {
    throw new RepositoryError("bad-signature", `${file}: the signature cannot be checked (${(e as Error).message})`, file);
  }
  const signerKey = await decide(result.signatures, keyring, file);
  return { text: result.data, signerKey };
}

/** The text of a clearsigned file without checking its signature (repository.unsigned). */
export async function clearsignedText(text: string, file: string): Promise<string> {
  return (await readClearsigned(text, file)).getText();
}

/** Verifies a detached signature (Release.gpg, armored or binary) over `data` (Release). */
export async function verifyDetached(data: Uint8Array, signature: Uint8Array, keyring: Keyring, file: string, signatureFile: string, now = new Date()): Promise<VerifiedText> {
  let sig: openpgp.Signature;
  try {
    const armored = Buffer.from(signature.subarray(0, 64)).toString("latin1").trimStart().startsWith("-----BEGIN PGP SIGNATURE-----");
    sig = armored
      ? await openpgp.readSignature({ armoredSignature: Buffer.from(signature).toString("latin1") })
      : await openpgp.readSignature({ binarySignature: signature });
  } catch (e) {
    throw new RepositoryError("bad-signature", `${signatureFile} is not a readable OpenPGP signature (${(e as Error).message})`, signatureFile);
  }
  let result: openpgp.VerifyMessageResult<Uint8Array>;
  try {
    const message = await openpgp.createMessage({ binary: data });
    result = await openpgp.verify({ message, signature: sig, verificationKeys: keyring.keys, format: "binary", date: verificationDate(now) });
  } catch (e) {
    throw new RepositoryError("bad-signature", `${signatureFile}: the signature cannot be checked (${(e as Error).message})`, signatureFile);
  }
  const signerKey = await decide(result.signatures, keyring, `${file} (signature ${signatureFile})`);
  return { text: Buffer.from(data).toString("utf8"), signerKey };
}
