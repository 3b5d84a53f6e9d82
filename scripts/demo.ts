// `npm run demo`: a sandbox beta cluster and the dashboard on the embedded SQLite, until Ctrl-C.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { down, up } from "../e2e/sandbox";

const { values } = parseArgs({
  options: {
    hosts: { type: "string", default: "5" },
    port: { type: "string", default: "3000" },
    dir: { type: "string", default: path.join("data", "demo-sandbox") },
  },
});
const hosts = Number(values.hosts);
const port = Number(values.port);
if (!Number.isInteger(hosts) || hosts < 1 || hosts > 200) throw new Error("--hosts must be a whole number from 1 to 200");
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error("--port must be a TCP port");
const dir = path.resolve(values.dir);

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(p).reduce((m, name) => Math.max(m, newestMtime(path.join(p, name))), st.mtimeMs);
}

/** Builds when there is no build yet or the sources changed since the last one. */
function buildIfNeeded() {
  const buildId = path.join(".next", "BUILD_ID");
  const sources = ["app", "lib", "public", "prisma", "next.config.js", "package-lock.json"].filter((p) => existsSync(p));
  if (existsSync(buildId) && Math.max(...sources.map(newestMtime)) < statSync(buildId).mtimeMs) return;
  console.log("building the dashboard (next build)…");
  execFileSync("npm", ["run", "-s", "build"], { stdio: "inherit" });
}

async function waitForHealth(url: string, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the dashboard did not answer at ${url}`);
}

async function main() {
  buildIfNeeded();
  console.log(`starting a ${hosts}-host sandbox beta cluster in ${dir}…`);
  const started = Date.now();
  const sandbox = await up({ hosts, dir });
  console.log(`sandbox ready in ${((Date.now() - started) / 1000).toFixed(1)} s: repository ${sandbox.repoUrl}, hosts ${sandbox.hosts.map((h) => h.name).join(", ")}`);

  const env = {
    ...process.env,
    DATABASE_URL: process.env.DATABASE_URL ?? `file:${path.resolve("data", "demo.db")}`,
    SCAP_CHANNELS_CONFIG: sandbox.configPath,
    PORT: String(port),
    NEXTAUTH_URL: `http://127.0.0.1:${port}`,
  };
  const password = randomBytes(9).toString("base64url");
  execFileSync("npx", ["tsx", "--conditions=react-server", "scripts/prepare-db.ts"], { env, stdio: "inherit" });
  execFileSync("npx", ["tsx", "--conditions=react-server", "scripts/cli.ts", "user", "add", "demo", "--role", "admin"], {
    env,
    input: password,
    stdio: ["pipe", "ignore", "inherit"],
  });

  const server = spawn("node_modules/.bin/next", ["start", "-H", "127.0.0.1", "-p", String(port)], { env, stdio: ["ignore", "inherit", "inherit"] });
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping the dashboard and the sandbox cluster…");
    server.kill("SIGTERM");
    await down(dir);
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  server.on("exit", (code) => void stop(code ?? 1));

  await waitForHealth(`http://127.0.0.1:${port}/api/health`, 60_000);
  console.log(`
Scap Channels demo is running: http://127.0.0.1:${port}/
  sign in as   demo / ${password}   (role admin)
  config       ${sandbox.configPath}
  sandbox      npm run sandbox -- fault --dir ${dir} ...   (stop a host, publish a build, tamper with the repo)
Ctrl-C stops everything.`);
}

main().catch(async (e: unknown) => {
  console.error(`demo: ${(e as Error).message}`);
  await down(dir).catch(() => {});
  process.exit(1);
});
