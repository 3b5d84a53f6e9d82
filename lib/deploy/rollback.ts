import "server-only";
import type { Actor } from "../audit/log";
import { authorize } from "../auth/authorize";
import type { AppConfig } from "../config-schema";
import { AppError } from "../errors";
import { getChannel } from "./channels";
import { launchDeployment } from "./run";
import { startDeployment, type StartedDeployment } from "./start";

/**
 * Rolls a channel back: a deployment like any other, to the channel's previous good version from
 * its deployment history (or the version given).
 */
export async function rollbackChannel(
  config: AppConfig,
  actor: Actor,
  channelName: string,
  req: { reason: string; version?: string; override?: boolean },
): Promise<StartedDeployment> {
  authorize(actor, "channels.rollback", channelName);
  const version = req.version ?? (await rollbackTarget(channelName));
  const started = await startDeployment(config, actor, { kind: "rollback", channel: channelName, version, reason: req.reason, override: req.override });
  void launchDeployment(config, started.id);
  return started;
}

/** The version a rollback of the channel goes to; 404 for an unknown channel, 409 when its history has none. */
export async function rollbackTarget(channelName: string): Promise<string> {
  const channel = await getChannel(channelName);
  if (!channel) throw new AppError("NOT_FOUND", `No channel named ${channelName} is configured.`);
  if (!channel.previousVersion) {
    throw new AppError("CONFLICT", `${channelName} has no previous good version in its deployment history; name the version to roll back to.`, { refusal: "no-previous" });
  }
  return channel.previousVersion;
}
