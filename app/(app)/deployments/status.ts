import type { Tone } from "../../_components/ui";

export const DEPLOYMENT_TONE: Record<string, Tone> = {
  queued: "slate",
  running: "indigo",
  succeeded: "green",
  failed: "red",
  partial: "amber",
  cancelled: "slate",
  interrupted: "amber",
};

export const TARGET_TONE: Record<string, Tone> = {
  pending: "slate",
  running: "indigo",
  succeeded: "green",
  failed: "red",
  skipped: "slate",
  cancelled: "slate",
  interrupted: "amber",
};
