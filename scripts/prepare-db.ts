// Runs before `npm start` / `npm run dev`: checks the environment and config, then applies migrations.
// A bad environment or config stops here with a message, so the app never starts half-configured.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { databaseFile } from "../lib/database-url";
import { checkEnv } from "../lib/env";
import { readConfigFile } from "../lib/config";

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

let env;
try {
  env = checkEnv();
} catch (e) {
  fail((e as Error).message);
}

if (env.SCAP_CHANNELS_CONFIG) {
  try {
    const config = readConfigFile(env.SCAP_CHANNELS_CONFIG);
    if (config.auth.oidc && !env.SCAP_CHANNELS_OIDC_CLIENT_SECRET) fail("auth.oidc is configured: set SCAP_CHANNELS_OIDC_CLIENT_SECRET to the client secret registered at the identity provider");
    console.log(`config: ${path.resolve(env.SCAP_CHANNELS_CONFIG)} (${config.hosts.length} hosts, channels ${config.channels.map((c) => c.name).join(", ")})`);
  } catch (e) {
    fail((e as Error).message);
  }
} else {
  console.log("config: none (set SCAP_CHANNELS_CONFIG); the dashboard starts empty and says how to configure it");
}

const file = databaseFile(env.DATABASE_URL);
mkdirSync(path.dirname(file), { recursive: true });
try {
  execFileSync(path.join("node_modules", ".bin", "prisma"), ["migrate", "deploy"], {
    env: { ...process.env, DATABASE_URL: env.DATABASE_URL },
    stdio: ["ignore", "pipe", "pipe"],
  });
} catch (e) {
  const err = e as { stdout?: Buffer; stderr?: Buffer };
  fail(`Could not apply database migrations to ${file}:\n${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}`);
}
console.log(`database: ${file} (migrations applied)`);
