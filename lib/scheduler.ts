import "server-only";
import { startBuildRefreshTimer } from "./apt/refresh";
import { startAuditVerifyTimer } from "./audit/verify";
import { getConfigState } from "./config";
import { startPolicyTimer } from "./deploy/policies";
import { startRecoveryTimer } from "./deploy/recover";
import { startProbeTimer } from "./fleet/probe";
import { startWebhookTimer } from "./notify/webhooks";

/** A config for the timers: none while unconfigured or invalid (they look again later). */
function currentConfig() {
  const state = getConfigState();
  return state.status === "ok" ? state.config : null;
}

/**
 * Background work: the watch for deployments whose runner died, the webhook sender and the channel
 * policies (following, bakes) always; the refresh of the
 * repository and the fleet, each on its own interval from the config (unless switched off).
 */
export function startSchedulers() {
  startRecoveryTimer(currentConfig);
  startAuditVerifyTimer();
  startWebhookTimer(currentConfig);
  startPolicyTimer(currentConfig);
  if (process.env.SCAP_CHANNELS_NO_TIMERS === "1") return;
  startBuildRefreshTimer(() => currentConfig()?.repository);
  startProbeTimer(currentConfig);
}
