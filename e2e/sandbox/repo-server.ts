// Static HTTP server for the sandbox apt repository, run as its own detached process:
//   node --import tsx repo-server.ts --root DIR/repo --mode-file F --log F --port-file F
// The fault mode is re-read from the mode file on every request; SIGHUP makes it apply "down"
// (stop listening: connection refused) or start listening again on the same port.
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import type { RepositoryMode } from "./state";
import { atomicWrite, procOf, probeTcp, sleep, type Proc } from "./util";

export interface ModeFile {
  mode: RepositoryMode;
  delayMs: number;
}

const CONTENT_TYPES: Record<string, string> = {
  ".deb": "application/vnd.debian.binary-package",
  ".gz": "application/gzip",
  ".xz": "application/x-xz",
  ".gpg": "application/pgp-signature",
  ".asc": "application/pgp-keys",
};

function contentType(file: string): string {
  return CONTENT_TYPES[path.extname(file)] ?? "text/plain; charset=utf-8";
}

function readMode(file: string): ModeFile {
  try {
    const m = JSON.parse(fs.readFileSync(file, "utf8")) as ModeFile;
    return { mode: m.mode ?? "up", delayMs: typeof m.delayMs === "number" ? m.delayMs : 3000 };
  } catch {
    return { mode: "up", delayMs: 3000 };
  }
}

function etagMatches(header: string, etag: string): boolean {
  return header
    .split(",")
    .map((t) => t.trim().replace(/^W\//, ""))
    .some((t) => t === "*" || t === etag);
}

interface ServerArgs {
  root: string;
  modeFile: string;
  log: string;
  portFile: string;
}

function serve(args: ServerArgs): void {
  const root = path.resolve(args.root);
  const log = fs.createWriteStream(args.log, { flags: "a" });
  const sockets = new Set<net.Socket>();
  let port = 0;
  let listening = false;

  const server = http.createServer(async (req, res) => {
    const started = Date.now();
    const { mode, delayMs } = readMode(args.modeFile);
    const line = (status: number | string, bytes = 0) =>
      log.write(`${new Date().toISOString()} ${req.socket.remoteAddress} ${req.method} ${req.url} ${status} ${bytes} ${Date.now() - started}ms ${mode}\n`);
    if (mode === "hang") {
      line("hang");
      return; // request read, never answered
    }
    if (mode === "down") {
      req.socket.destroy();
      line("reset");
      return;
    }
    if (mode === "slow") await sleep(delayMs);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      line(405);
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400).end();
      line(400);
      return;
    }
    const file = path.resolve(root, "." + rel);
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      line(403);
      return;
    }
    // Open first, then fstat: an atomic rename between the two can never mix two versions.
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      line(404);
      return;
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) {
        await fh.close();
        res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
        line(404);
        return;
      }
      const etag = `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
      const mtimeSec = Number(st.mtimeMs / 1000n);
      const headers = {
        ETag: etag,
        "Last-Modified": new Date(mtimeSec * 1000).toUTCString(),
        "Cache-Control": "no-cache",
      };
      const inm = req.headers["if-none-match"];
      const ims = req.headers["if-modified-since"];
      const notModified =
        inm !== undefined ? etagMatches(inm, etag) : ims !== undefined && !Number.isNaN(Date.parse(ims)) && mtimeSec <= Date.parse(ims) / 1000;
      if (notModified) {
        await fh.close();
        res.writeHead(304, headers).end();
        line(304);
        return;
      }
      res.writeHead(200, { ...headers, "Content-Type": contentType(file), "Content-Length": st.size.toString() });
      if (req.method === "HEAD") {
        await fh.close();
        res.end();
        line(200);
        return;
      }
      const stream = fh.createReadStream();
      stream.pipe(res);
      res.on("close", () => {
        stream.destroy();
        line(200, Number(st.size));
      });
    } catch (e) {
      await fh.close().catch(() => {});
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
      line(`500 ${(e as Error).message}`);
    }
  });
  // A hung request must stay hung, and apt keeps connections open between its requests.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 60_000;
  server.maxRequestsPerSocket = 0;
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  const listen = (wanted: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error) => {
        server.off("listening", onListening);
        reject(e);
      };
      const onListening = () => {
        server.off("error", onError);
        resolve((server.address() as net.AddressInfo).port);
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen({ host: "127.0.0.1", port: wanted, backlog: 4096 });
    });

  // Ports below the kernel's ephemeral range, so no outgoing connection can sit on ours while
  // the repository is "down" and keep it from listening again.
  const pickPort = async (): Promise<number> => {
    for (let i = 0; i < 200; i++) {
      const candidate = 20_000 + Math.floor(Math.random() * 12_000);
      try {
        return await listen(candidate);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
      }
    }
    throw new Error("no free port in 20000-31999");
  };

  let applying = Promise.resolve();
  const apply = () => {
    applying = applying.then(async () => {
      const { mode } = readMode(args.modeFile);
      if (mode === "down" && listening) {
        await new Promise<void>((r) => {
          server.close(() => r());
          for (const s of sockets) s.destroy();
        });
        listening = false;
        log.write(`${new Date().toISOString()} - stopped listening (down)\n`);
      } else if (mode !== "down" && !listening) {
        for (let i = 0; ; i++) {
          try {
            await listen(port);
            break;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || i > 100) throw e;
            await sleep(100);
          }
        }
        listening = true;
        log.write(`${new Date().toISOString()} - listening on 127.0.0.1:${port} (${mode})\n`);
      }
    });
  };

  // While "down" nothing else holds the event loop open, and the process must outlive that.
  setInterval(() => {}, 1 << 30);
  process.on("SIGHUP", apply);
  process.on("SIGTERM", () => process.exit(0));
  void (async () => {
    port = await pickPort();
    listening = true;
    log.write(`${new Date().toISOString()} - listening on 127.0.0.1:${port}\n`);
    fs.writeFileSync(args.portFile, JSON.stringify({ pid: process.pid, port }));
    apply();
  })().catch((e: Error) => {
    log.write(`${new Date().toISOString()} - fatal: ${e.message}\n`);
    process.exit(1);
  });
}

// ---- control, used by the sandbox process ----------------------------------------------------

const SELF = fileURLToPath(import.meta.url);

/** Starts the server detached; resolves with its process and port once it accepts connections. */
export async function startRepoServer(opts: { root: string; modeFile: string; logDir: string }): Promise<{ proc: Proc; port: number }> {
  const portFile = path.join(opts.logDir, "repo-server.port.json");
  await fsp.rm(portFile, { force: true });
  const stdio = fs.openSync(path.join(opts.logDir, "repo-server.out"), "a");
  const tsx = createRequire(import.meta.url).resolve("tsx");
  const child = spawn(
    process.execPath,
    ["--import", `file://${tsx}`, SELF, "--root", opts.root, "--mode-file", opts.modeFile, "--log", path.join(opts.logDir, "repo-http.log"), "--port-file", portFile],
    { detached: true, stdio: ["ignore", stdio, stdio], cwd: path.dirname(SELF) },
  );
  fs.closeSync(stdio);
  child.unref();
  const proc = procOf(child.pid!);
  if (!proc) throw new Error("the repository server exited at once; see repo-server.out");
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const info = await fsp
      .readFile(portFile, "utf8")
      .then((t) => JSON.parse(t) as { pid: number; port: number })
      .catch(() => null);
    if (info && (await probeTcp("127.0.0.1", info.port)) === "open") return { proc, port: info.port };
    if (procOf(proc.pid)?.start !== proc.start) throw new Error(`the repository server exited; see ${path.join(opts.logDir, "repo-server.out")}`);
    await sleep(50);
  }
  throw new Error("the repository server did not start listening within 20 s");
}

/** Writes the mode, tells the server, and returns once the listener matches it. */
export async function applyRepoMode(server: Proc, port: number, modeFile: string, mode: ModeFile): Promise<void> {
  await atomicWrite(modeFile, JSON.stringify(mode));
  process.kill(server.pid, "SIGHUP");
  const want = mode.mode === "down" ? "refused" : "open";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if ((await probeTcp("127.0.0.1", port, 500)) === want) return;
    await sleep(50);
  }
  throw new Error(`the repository server did not switch to ${mode.mode} within 15 s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) {
  const get = (flag: string) => {
    const i = process.argv.indexOf(flag);
    const v = i >= 0 ? process.argv[i + 1] : undefined;
    if (!v) {
      console.error(`usage: repo-server.ts --root DIR --mode-file FILE --log FILE --port-file FILE (missing ${flag})`);
      process.exit(2);
    }
    return v;
  };
  serve({ root: get("--root"), modeFile: get("--mode-file"), log: get("--log"), portFile: get("--port-file") });
}
