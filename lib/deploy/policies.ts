import "server-only";
import type { AppConfig } from "../config-schema";
import { tickBakes } from "./bake";
import { followNewest } from "./follow";

const running = globalThis as unknown as { scapPolicies?: Promise<void> | null };

/** One pass of the channel policies: due bake checks, then following channels. Never overlaps itself. */
export function runPolicies(config: AppConfig): Promise<void> {
  if (running.scapPolicies) return running.scapPolicies;
  const pass = (async () => {
    await tickBakes(config);
    await followNewest(config);
  })()
    .catch((e: unknown) => console.error("deploy: channel policies failed", e))
    .finally(() => {
      running.scapPolicies = null;
    });
  running.scapPolicies = pass;
  return pass;
}

const timerSlot = globalThis as unknown as { scapPolicyTimer?: NodeJS.Timeout };

/** Runs the policies every `everyMs` (bake checks are due by their own interval; following reacts within one pass of a new build). */
export function startPolicyTimer(getConfig: () => AppConfig | null, everyMs = 5_000): () => void {
  clearInterval(timerSlot.scapPolicyTimer);
  const timer = setInterval(() => {
    const config = getConfig();
    if (config && config.channels.some((c) => c.follow || c.bake)) void runPolicies(config);
  }, everyMs);
  timer.unref();
  timerSlot.scapPolicyTimer = timer;
  return () => clearInterval(timer);
}
