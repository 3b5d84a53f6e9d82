// The shared stage of the fault suite: one sandbox beta cluster, one database, one `npm start`
// of the built app, users and tokens; and the webhook receiver the app notifies.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { down, setRepositoryMode, restoreRepository, startHost, up, type Sandbox } from "../e2e/sandbox";
import { App, ensureDir, freePort, killLeftovers, readConfig, ROOT, runScript, TSX, writeConfig, type Tokens } from "./harness";

export interface Suite {
  dir: string;
  sb: Sandbox;
  app: App;
  tokens: Tokens;
  /** Host names, beta01 … */
  hosts: string[];
  /** Published versions, oldest first. */
  versions: string[];
  /** Bodies (and headers) the webhook receiver got. */
  webhooks: string[];
  /** Another port for a second app (the disk-full scenario's). */
  spare: number;
  close(): Promise<void>;
  /** Puts the sandbox back as the scenarios expect to find it: repository up and good, every host's sshd up. */
  reset(): Promise<void>;
}

export const HOSTS = 20;
/** Channels beside canary and beta, for scenarios that need hosts of their own. */
export const FAULT_HOSTS = ["beta11", "beta12", "beta13", "beta14", "beta15", "beta16"];
export const STRICT_HOSTS = ["beta17", "beta18", "beta19"];

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
}

export async function openSuite(dir: string, log: (line: string) => void): Promise<Suite> {
  if (!existsSync(path.join(ROOT, ".next", "BUILD_ID"))) {
    log("no .next build: running next build");
    execFileSync("npx", ["next", "build"], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  }
  killLeftovers(dir);
  // A run killed midway may have left its small database volume mounted.
  for (const line of readFileSync("/proc/mounts", "utf8").split("\n")) {
    const mount = line.split(" ")[1];
    if (mount && mount.startsWith(path.resolve(dir) + "/")) execFileSync("umount", ["-l", mount]);
  }
  rmSync(dir, { recursive: true, force: true });
  ensureDir(dir);
  const t0 = Date.now();
  const sb = await up({ hosts: HOSTS, dir: path.join(dir, "sandbox") });
  log(`sandbox of ${HOSTS} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Whatever fails from here on, the sandbox and any server started go with it.
  try {
    const webhooks: string[] = [];
    const hookServer = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        webhooks.push(JSON.stringify(req.headers) + "\n" + body);
        res.writeHead(204).end();
      });
    });
    const hookPort = await freePort(3701, 3799);
    await listen(hookServer, hookPort);
    const appPort = await freePort(hookPort + 1, 3799);
    const spare = await freePort(appPort + 1, 3799);
    const oidcPort = await freePort(spare + 1, 3799);

    const doc = readConfig(sb.configPath);
    doc.ssh.connectTimeoutSeconds = 5;
    doc.ssh.commandTimeoutSeconds = 25;
    doc.channels = [
      { name: "canary", hosts: [sb.hosts[0]!.name], batchSize: 1, maxFailures: 0 },
      { name: "beta", hosts: "all", requires: "canary", batchSize: 5, maxFailures: 1 },
      { name: "faults", hosts: FAULT_HOSTS, batchSize: FAULT_HOSTS.length, maxFailures: FAULT_HOSTS.length },
      { name: "strict", hosts: STRICT_HOSTS, batchSize: 1, maxFailures: 0 },
    ];
    doc.notifications = { webhooks: [{ url: `http://127.0.0.1:${hookPort}/hook`, secretEnv: "FAULTS_WEBHOOK_SECRET", retries: 0 }] };
    // Nothing listens there: the identity provider is only configured, so its client secret is in the app's environment.
    doc.auth = { local: true, oidc: { issuer: `http://127.0.0.1:${oidcPort}/oidc`, clientId: "scap-channels", name: "the test IdP", roles: { admin: ["sre"], deployer: ["releng"], viewer: [] } } };
    writeConfig(sb.configPath, doc);

    const app = new App(appPort, `file:${path.join(dir, "faults.db")}`, sb.configPath, dir);
    execFileSync("npx", [...TSX, "scripts/prepare-db.ts"], { cwd: ROOT, env: app.env(), stdio: ["ignore", "ignore", "inherit"] });
    const tokens = JSON.parse(runScript(app, ["faults/prepare-users.ts"])) as Tokens;
    await app.start();
    log(`app up on ${app.url} (log ${app.log})`);

    const suite: Suite = {
      dir,
      sb,
      app,
      tokens,
      hosts: sb.hosts.map((h) => h.name),
      versions: [...sb.versions],
      webhooks,
      spare,
      async reset() {
        await setRepositoryMode(sb, "up");
        await restoreRepository(sb);
        for (const h of suite.hosts) await startHost(sb, h);
      },
      async close() {
        await app.stop();
        hookServer.close();
        await down(sb.dir);
      },
    };
    const builds = await app.post("/api/builds/refresh", tokens.admin);
    if (builds.status !== 200 || !builds.json.outcome.ok) throw new Error(`the first builds refresh failed: ${builds.text.slice(0, 300)}`);
    const hosts = await app.post("/api/hosts/refresh", tokens.admin);
    if (hosts.status !== 200) throw new Error(`the first hosts refresh failed: ${hosts.text.slice(0, 300)}`);
    return suite;
  } catch (e) {
    killLeftovers(dir);
    await down(sb.dir);
    throw e;
  }
}
