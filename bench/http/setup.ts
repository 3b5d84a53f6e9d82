// What the HTTP rows share: their sizes, the prepared database every app starts from, the fake
// fleet's config, and the notes every figure carries.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { prepareDatabase, type RunningApp } from "./app";

export interface Sizes {
  rounds: number;
  seconds: number;
  connections: number;
  fewHosts: number;
  manyHosts: number;
  fewEvents: number;
  manyEvents: number;
  viewers: number;
  promotionHosts: number;
}

export const FULL: Sizes = { rounds: 5, seconds: 3, connections: 20, fewHosts: 10, manyHosts: 1000, fewEvents: 1000, manyEvents: 500_000, viewers: 200, promotionHosts: 20 };
export const QUICK: Sizes = { rounds: 1, seconds: 1, connections: 5, fewHosts: 10, manyHosts: 50, fewEvents: 200, manyEvents: 2000, viewers: 10, promotionHosts: 3 };
export const PORTS = { few: 3601, many: 3602, promotion: 3603 };

export const tail = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-30).join("\n") : "(no log)");
export const loadNote = () => `load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} on ${os.cpus().length} cores`;

/** A config with `hosts` hosts at an address nothing listens on (the server's own probe finds them unreachable at once). */
export function fakeFleetConfig(file: string, hosts: number): void {
  const names = Array.from({ length: hosts }, (_, i) => `bench${String(i + 1).padStart(4, "0")}`);
  writeFileSync(
    file,
    stringify({
      repository: { url: "http://127.0.0.1:9/", unsigned: true, refreshSeconds: 86_400 },
      ssh: { user: "root", privateKeyPath: "/nonexistent", knownHostsPath: "/nonexistent", connectTimeoutSeconds: 1 },
      fleet: { refreshSeconds: 86_400 },
      hosts: names.map((name) => ({ name, address: "127.0.0.1", port: 9 })),
      channels: [
        { name: "canary", hosts: names.slice(0, Math.max(1, Math.floor(hosts / 10))), batchSize: 1, maxFailures: 0 },
        { name: "beta", hosts: "all", requires: "canary", batchSize: 10, maxFailures: 1 },
      ],
    }),
  );
}

export async function waitForProbe(app: RunningApp): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${app.url}/api/hosts`, { headers: { authorization: `Bearer ${app.token}` } });
    const body = (await res.json()) as { probe: { running: boolean } | null };
    if (body.probe && !body.probe.running) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface Template {
  databaseUrl: string;
  token: string;
}

export function template(cwd: string, dir: string): Template {
  const configPath = path.join(dir, "config-template.yaml");
  fakeFleetConfig(configPath, 1);
  const databaseUrl = `file:${path.join(dir, "template.db")}`;
  return { databaseUrl, token: prepareDatabase(cwd, databaseUrl, configPath) };
}

