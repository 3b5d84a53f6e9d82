// A channel's policies as clients see them. Pure types.

export interface BakeHostResultView {
  host: string;
  ok: boolean;
  exitCode: number | null;
  error: string | null;
}

export interface ChannelPolicyView {
  /** `follow: newest` in the config. */
  follow: boolean;
  followPaused: { by: string; at: string } | null;
  freeze: { by: string; reason: string; since: string; until: string | null } | null;
  /** The bake time configured for the channel, or null when it does not bake. */
  bakeMinutes: number | null;
  onBakeFailure: "stay" | "rollback";
  /** The newest bake on the channel. */
  bake: {
    version: string;
    deploymentId: number;
    status: "baking" | "passed" | "failed" | "superseded";
    startedAt: string;
    endsAt: string;
    checks: number;
    lastCheckAt: string | null;
    lastResults: BakeHostResultView[];
    error: string | null;
  } | null;
  /** The newest build this channel may take now (newer than its version, proven where it must be, never failed here). */
  nextEligible: string | null;
}
