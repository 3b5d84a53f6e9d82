import "server-only";
import type { Actor } from "../audit/log";
import type { AppConfig } from "../config-schema";
import { launchDeployment } from "./run";
import { startDeployment, type StartedDeployment } from "./start";

/** Promotes a build to a channel: every check, the lock and the record, then the runner in the background. */
export async function promoteBuild(
  config: AppConfig,
  actor: Actor,
  channel: string,
  req: { version: string; reason: string; override?: boolean },
): Promise<StartedDeployment> {
  const started = await startDeployment(config, actor, { kind: "promote", channel, ...req });
  void launchDeployment(config, started.id);
  return started;
}
