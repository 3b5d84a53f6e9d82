import "server-only";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { z } from "zod";
import { addBrand, hasBrand } from "./brand";
import { configSchema, type AppConfig } from "./config-schema";

export * from "./config-schema";

/** A config file that cannot be used; the message names the file and the key. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`Invalid configuration in ${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    addBrand(this, "ConfigError");
  }

  // The cached config state (and its error) is shared on globalThis by every module graph.
  static [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, "ConfigError");
  }
}

function keyPath(p: PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), "");
}

function describe(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    const key = keyPath(i.path);
    if (i.code === "unrecognized_keys") return `${key ? `${key}: ` : ""}unknown key(s) ${i.keys.join(", ")}`;
    return `${key || "(top level)"}: ${i.message}`;
  });
}

/** Parses and validates config text; relative paths are resolved against the file's folder. */
export function parseConfig(text: string, file: string): AppConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}` : "";
    throw new ConfigError(file, [`not valid YAML${where}: ${(e as Error).message.split("\n")[0]}`]);
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(file, describe(result.error.issues));
  const config = result.data;
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(dir, p);
  const keyring = config.repository.keyring;
  if (keyring !== undefined) config.repository.keyring = Array.isArray(keyring) ? keyring.map(abs) : abs(keyring);
  config.ssh.privateKeyPath = abs(config.ssh.privateKeyPath);
  config.ssh.knownHostsPath = abs(config.ssh.knownHostsPath);
  return config;
}

export function readConfigFile(file: string): AppConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === "ENOENT" ? "file not found (set SCAP_CHANNELS_CONFIG to an existing file)" : `cannot read: ${code}`]);
  }
  return parseConfig(text, file);
}

export type ConfigState =
  | { status: "unconfigured" }
  | { status: "invalid"; file: string; error: ConfigError }
  | { status: "ok"; file: string; config: AppConfig; loadedAt: Date; reloadError?: string };

const cache = globalThis as unknown as { scapConfig?: { state: ConfigState; mtimeMs: number } };

/**
 * The current config. The file is re-read when it changes on disk; a changed file that no longer
 * validates keeps the last good config and reports the problem in `reloadError`.
 */
export function getConfigState(): ConfigState {
  const file = process.env.SCAP_CHANNELS_CONFIG;
  if (!file) return { status: "unconfigured" };
  const abs = path.resolve(file);
  let mtimeMs = -1;
  try {
    mtimeMs = statSync(abs).mtimeMs;
  } catch {
    // Reported below by readConfigFile, or kept as a reload error.
  }
  const cached = cache.scapConfig;
  if (cached && cached.state.status === "ok" && cached.state.file === abs && cached.mtimeMs === mtimeMs) return cached.state;
  try {
    const state: ConfigState = { status: "ok", file: abs, config: readConfigFile(abs), loadedAt: new Date() };
    cache.scapConfig = { state, mtimeMs };
    return state;
  } catch (e) {
    if (cached && cached.state.status === "ok" && cached.state.file === abs) {
      const state: ConfigState = { ...cached.state, reloadError: (e as Error).message };
      cache.scapConfig = { state, mtimeMs };
      return state;
    }
    if (!(e instanceof ConfigError)) throw e;
    return { status: "invalid", file: abs, error: e };
  }
}

/** The config, or null when none is named. Throws ConfigError when the named file is bad. */
export function getConfig(): AppConfig | null {
  const state = getConfigState();
  if (state.status === "invalid") throw state.error;
  return state.status === "ok" ? state.config : null;
}
