import "server-only";
import { getConfig, type AppConfig } from "./config";
import { AppError } from "./errors";

/** The config, or a 409 telling the caller the dashboard has no configuration yet. */
export function requireConfig(): AppConfig {
  const config = getConfig();
  if (!config) throw new AppError("NOT_CONFIGURED", "No configuration: set SCAP_CHANNELS_CONFIG to the config file and restart.");
  return config;
}
