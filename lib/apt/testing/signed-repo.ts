// A real signed apt repository for tests and the benchmark: gpg keys, apt-ftparchive's Release,
// gpg signatures, served by a small HTTP server on 127.0.0.1 with fault modes. Test-only.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { packagesIndexChunks, type FakeBuild } from "./packages-index";

export interface TestKey {
  fingerprint: string;
  armoredPath: string;
  binaryPath: string;
}

export type KeyName = "a" | "b" | "c";

export interface PublishOptions {
  builds: FakeBuild[];
  /** Filler stanzas of other packages around the builds. */
  filler?: number;
  /** Approximate size of the uncompressed index when filler is large. */
  targetBytes?: number;
  suite?: string;
  component?: string;
  architecture?: string;
  /** `deb URL ./` layout: Release and Packages at the root. */
  flat?: boolean;
  /** Keys that sign InRelease (all of them) and Release.gpg (the first). */
  signers?: KeyName[];
  inRelease?: boolean;
  detached?: boolean;
  compressions?: ("xz" | "gz" | "none")[];
  date?: Date;
  /** null: no Valid-Until field. */
  validUntil?: Date | null;
  /** Extra Release fields, e.g. { "Acquire-By-Hash": "yes" }. */
  releaseFields?: Record<string, string>;
  byHash?: boolean;
}

export type ServerMode = "up" | "hang" | "reset" | "error";

export interface RepoFixture {
  dir: string;
  root: string;
  keys: Record<KeyName, TestKey>;
  url: string;
  /** "METHOD path status" of every request served, oldest first. */
  requests: string[];
  mode: ServerMode;
  /** Paths of the Release-folder files of the last publish, relative to root. */
  releaseDir: string;
  publish(opts: PublishOptions): void;
  /** Re-signs the current Release text as given (for date and key faults). */
  resign(releaseText: string, signers?: KeyName[]): void;
  close(): Promise<void>;
}

function gpg(home: string, args: string[], input?: string | Buffer): Buffer {
  return execFileSync("gpg", ["--homedir", home, "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", ...args], {
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 1 << 26,
  });
}

const rfc2822 = (d: Date) => d.toUTCString().replace("GMT", "UTC");

export async function createSignedRepo(): Promise<RepoFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "scap-apt-"));
  const home = path.join(dir, "g");
  mkdirSync(home, { mode: 0o700 });
  const root = path.join(dir, "www");
  mkdirSync(root);
  const keys = {} as Record<KeyName, TestKey>;
  const uids: Record<KeyName, string> = { a: "Repo A <a@repo.invalid>", b: "Repo B <b@repo.invalid>", c: "Impostor <c@repo.invalid>" };
  for (const name of ["a", "b", "c"] as const) {
    gpg(home, ["--quick-gen-key", uids[name], name === "b" ? "rsa2048" : "ed25519", "sign", "never"]);
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(home, ["--with-colons", "--list-keys", uids[name]]).toString())![1]!;
    const armoredPath = path.join(dir, `${name}.asc`);
    const binaryPath = path.join(dir, `${name}.gpg`);
    writeFileSync(armoredPath, gpg(home, ["--armor", "--export", fpr]));
    writeFileSync(binaryPath, gpg(home, ["--export", fpr]));
    keys[name] = { fingerprint: fpr, armoredPath, binaryPath };
  }

  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const fixture = { mode: "up" as ServerMode };
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const log = (status: number | string) => requests.push(`${req.method} ${rel} ${status}`);
    if (fixture.mode === "hang") return log("hang");
    if (fixture.mode === "reset") {
      log("reset");
      req.socket.destroy();
      return;
    }
    if (fixture.mode === "error") {
      log(503);
      res.writeHead(503).end("maintenance\n");
      return;
    }
    const file = path.join(root, path.normalize(rel));
    let st;
    try {
      st = statSync(file);
      if (!st.isFile()) throw new Error("not a file");
    } catch {
      log(404);
      res.writeHead(404).end("not found\n");
      return;
    }
    const etag = `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs * 1000).toString(16)}"`;
    const headers = { ETag: etag, "Last-Modified": new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString() };
    if (req.headers["if-none-match"] === etag) {
      log(304);
      res.writeHead(304, headers).end();
      return;
    }
    log(200);
    res.writeHead(200, { ...headers, "Content-Length": st.size });
    createReadStream(file).pipe(res);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;

  let last: PublishOptions | null = null;
  const releaseDirOf = (o: PublishOptions) => (o.flat ? "" : path.join("dists", o.suite ?? "beta"));

  // gpg starts an agent to sign; stopping it after each use leaves no process behind a crashed test.
  const stopAgent = () => {
    try {
      execFileSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
    } catch {
      // no agent running
    }
  };
  stopAgent();

  const sign = (releaseDir: string, signers: KeyName[], inRelease: boolean, detached: boolean) => {
    const release = path.join(root, releaseDir, "Release");
    for (const f of ["InRelease", "Release.gpg"]) rmSync(path.join(root, releaseDir, f), { force: true });
    const users = signers.flatMap((k) => ["--local-user", `${keys[k].fingerprint}!`]);
    if (inRelease) gpg(home, ["--yes", "--digest-algo", "SHA512", ...users, "--clearsign", "--output", path.join(root, releaseDir, "InRelease"), release]);
    if (detached) gpg(home, ["--yes", "--digest-algo", "SHA512", ...users.slice(0, 2), "--armor", "--detach-sign", "--output", path.join(root, releaseDir, "Release.gpg"), release]);
    stopAgent();
  };

  const result: RepoFixture = {
    dir,
    root,
    keys,
    url: `http://127.0.0.1:${port}/`,
    requests,
    get mode() {
      return fixture.mode;
    },
    set mode(m: ServerMode) {
      fixture.mode = m;
    },
    get releaseDir() {
      return last ? releaseDirOf(last) : "";
    },
    publish(o: PublishOptions) {
      last = o;
      rmSync(path.join(root, "dists"), { recursive: true, force: true });
      for (const f of ["Packages", "Packages.gz", "Packages.xz", "InRelease", "Release", "Release.gpg"]) rmSync(path.join(root, f), { force: true });
      const releaseDir = releaseDirOf(o);
      const indexDir = o.flat ? "" : path.join(releaseDir, o.component ?? "main", `binary-${o.architecture ?? "amd64"}`);
      mkdirSync(path.join(root, indexDir), { recursive: true });
      const text = [...packagesIndexChunks(o.filler ?? 5, o.builds, o.targetBytes)].join("");
      const data = Buffer.from(text);
      const compressions = o.compressions ?? ["xz", "gz", "none"];
      if (compressions.includes("none")) writeFileSync(path.join(root, indexDir, "Packages"), data);
      if (compressions.includes("gz")) {
        const gz = gzipSync(data, { level: 6 });
        writeFileSync(path.join(root, indexDir, "Packages.gz"), gz);
      }
      if (compressions.includes("xz")) {
        const xz = execFileSync("xz", ["-6", "--check=crc64", "-c"], { input: data, maxBuffer: 1 << 30 });
        writeFileSync(path.join(root, indexDir, "Packages.xz"), xz);
      }
      if (o.byHash) {
        const byHash = path.join(root, indexDir, "by-hash", "SHA256");
        mkdirSync(byHash, { recursive: true });
        for (const f of ["Packages", "Packages.gz", "Packages.xz"]) {
          const p = path.join(root, indexDir, f);
          if (!existsSync(p)) continue;
          const bytes = readFileSync(p);
          writeFileSync(path.join(byHash, createHash("sha256").update(bytes).digest("hex")), bytes);
        }
      }
      const set = (k: string, v: string) => ["-o", `APT::FTPArchive::Release::${k}=${v}`];
      const suite = o.suite ?? "beta";
      const args = o.flat
        ? ["release", "."]
        : [
            ...set("Origin", "test"),
            ...set("Label", "test"),
            ...set("Suite", suite),
            ...set("Codename", suite),
            ...set("Architectures", o.architecture ?? "amd64"),
            ...set("Components", o.component ?? "main"),
            "release",
            ".",
          ];
      let release = execFileSync("apt-ftparchive", args, { cwd: path.join(root, releaseDir) })
        .toString()
        .split("\n")
        .filter((l) => !/^(Date|Valid-Until):/.test(l));
      const date = o.date ?? new Date();
      const extra = [`Date: ${rfc2822(date)}`];
      if (o.validUntil !== null) extra.push(`Valid-Until: ${rfc2822(o.validUntil ?? new Date(date.getTime() + 7 * 86_400_000))}`);
      for (const [k, v] of Object.entries(o.releaseFields ?? {})) extra.push(`${k}: ${v}`);
      if (o.byHash) extra.push("Acquire-By-Hash: yes");
      release = [...extra, ...release];
      writeFileSync(path.join(root, releaseDir, "Release"), release.join("\n"));
      sign(releaseDir, o.signers ?? ["a"], o.inRelease ?? true, o.detached ?? true);
    },
    resign(releaseText: string, signers: KeyName[] = ["a"]) {
      const releaseDir = last ? releaseDirOf(last) : "";
      writeFileSync(path.join(root, releaseDir, "Release"), releaseText);
      sign(releaseDir, signers, last?.inRelease ?? true, last?.detached ?? true);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      stopAgent();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return result;
}

/** The Release file of the last publish, as text. */
export function readRelease(fx: RepoFixture): string {
  return readFileSync(path.join(fx.root, fx.releaseDir, "Release"), "utf8");
}
