import "server-only";
import { readFileSync, statSync, unwatchFile, watchFile } from "node:fs";
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

/** Told of every config that loads: the first one and each successful reload. */
export type ConfigListener = (config: AppConfig) => unknown;

// Shared by every module graph: a reload one graph sees must reach listeners another registered.
const cache = globalThis as unknown as {
  scapConfig?: { state: ConfigState; mtimeMs: number };
  scapConfigListeners?: Set<ConfigListener>;
};

const listeners = () => (cache.scapConfigListeners ??= new Set());

/** Calls `listener` for each config loaded from now on (not the current one); returns an unsubscribe. */
export function onConfigLoaded(listener: ConfigListener): () => void {
  listeners().add(listener);
  return () => listeners().delete(listener);
}

function loaded(config: AppConfig): void {
  for (const listener of listeners()) {
    try {
      const r = listener(config);
      if (r instanceof Promise) r.catch((e: unknown) => console.error("config: a listener of the loaded config failed", e));
    } catch (e) {
      console.error("config: a listener of the loaded config failed", e);
    }
  }
}

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
    loaded(state.config);
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

/**
 * Re-reads the config file soon after it changes on disk rather than on the next read, so
 * onConfigLoaded listeners hear of a reload even while nobody reads. Polls the file's stat; does
 * not keep the process alive. Returns a stop function; a no-op when no file is named.
 */
export function watchConfigFile(intervalMs = 2000): () => void {
  const file = process.env.SCAP_CHANNELS_CONFIG;
  if (!file) return () => {};
  const abs = path.resolve(file);
  const check = () => {
    try {
      getConfigState();
    } catch (e) {
      console.error(`config: re-reading ${abs} failed`, e);
    }
  };
  watchFile(abs, { interval: intervalMs, persistent: false }, check);
  return () => unwatchFile(abs, check);
}
