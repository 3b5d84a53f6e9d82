import "server-only";
import { z } from "zod";
import type { Role, TokenScope } from "../auth/permissions";
import type { Tx } from "../db";
import { advanceHead, eventHash, settleHead } from "./chain";

/** Who did something and from where; recorded with every audit event. */
export interface Actor {
  id: number | null;
  name: string;
  source: "ui" | "api" | "cli" | "system";
  /** The role the actor acts with; domain functions check it again (lib/auth/authorize.ts). System and CLI act as admin. */
  role: Role;
  ip?: string | null;
  userAgent?: string | null;
  /** An API token's permission and channel limits, checked with the role (lib/auth/authorize.ts). */
  scope?: TokenScope | null;
}

export const SYSTEM_ACTOR: Actor = { id: null, name: "system", source: "system", role: "admin" };

// One payload schema per action: what an event records is fixed, and secrets have no field to go in.
export const AUDIT_PAYLOADS = {
  "builds.refresh": z.object({
    ok: z.boolean(),
    changed: z.boolean().optional(),
    added: z.array(z.string()).optional(),
    removed: z.array(z.string()).optional(),
    errorKind: z.string().optional(),
    error: z.string().optional(),
    /** Versions listed again with another SHA256 or size: the same version rebuilt. */
    rebuilt: z.array(z.string()).optional(),
    /** This person's request joined a read already running; the outcome is that read's. */
    joined: z.boolean().optional(),
  }),
  "hosts.refresh": z.object({
    hosts: z.number().int(),
    ok: z.number().int(),
    notInstalled: z.number().int(),
    unreachable: z.number().int(),
    unknown: z.number().int(),
    changed: z.array(z.object({ host: z.string(), from: z.string().nullable(), to: z.string().nullable() })),
    durationMs: z.number().int(),
    /** Hosts not probed because a deployment held them (their last observation stands). */
    busy: z.array(z.object({ host: z.string(), holder: z.string() })).optional(),
    /** This person's request joined a probe already running; the counts are that probe's. */
    joined: z.boolean().optional(),
  }),
  "inventory.sync": z.object({
    added: z.array(z.string()),
    removed: z.array(z.string()),
    /** Hosts whose address or port changed. */
    updated: z.array(z.string()).default([]),
    channels: z.array(z.string()),
  }),
  "deployment.start": z.object({
    deploymentId: z.number().int(),
    kind: z.enum(["promote", "rollback"]),
    channel: z.string(),
    version: z.string(),
    fromVersion: z.string().nullable(),
    hosts: z.array(z.string()),
    batches: z.number().int(),
    batchSize: z.number().int(),
    maxFailures: z.number().int(),
    reason: z.string(),
    /** An admin started it past the channel's gate. */
    override: z.boolean(),
    retryOf: z.number().int().nullable(),
    salLine: z.string(),
  }),
  "deployment.cancel": z.object({ deploymentId: z.number().int(), channel: z.string(), version: z.string() }),
  "deployment.finish": z.object({
    deploymentId: z.number().int(),
    channel: z.string(),
    version: z.string(),
    status: z.string(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    skipped: z.number().int(),
    cancelled: z.number().int(),
    durationMs: z.number().int(),
    /** Hosts that did not end on the version, with what they run as far as the runner knows. */
    notOnVersion: z.array(z.object({ host: z.string(), status: z.string(), version: z.string().nullable() })),
  }),
  "deployment.interrupted": z.object({
    deploymentId: z.number().int(),
    channel: z.string(),
    version: z.string(),
    /** Hosts that were installing when the runner died. */
    running: z.array(z.string()),
  }),
  "channel.freeze": z.object({ channel: z.string(), reason: z.string(), until: z.string().nullable() }),
  "channel.unfreeze": z.object({ channel: z.string(), frozenBy: z.string().nullable(), reason: z.string().nullable() }),
  "channel.follow": z.object({ channel: z.string(), paused: z.boolean() }),
  "bake.passed": z.object({ channel: z.string(), version: z.string(), deploymentId: z.number().int(), checks: z.number().int(), minutes: z.number() }),
  "bake.failed": z.object({
    channel: z.string(),
    version: z.string(),
    deploymentId: z.number().int(),
    error: z.string(),
    hosts: z.array(z.object({ host: z.string(), ok: z.boolean(), exitCode: z.number().int().nullable(), error: z.string().nullable() })),
    rollback: z.boolean(),
  }),
  "user.add": z.object({ role: z.string() }),
  "user.disable": z.object({}),
  "user.signin": z.object({ method: z.enum(["password", "oidc"]).optional(), role: z.string().optional(), groups: z.array(z.string()).optional(), previousRole: z.string().optional() }),
  // The actor is "anonymous"; the typed name (clipped, escaped) is only ever payload.
  "user.signin-failed": z.object({
    reason: z.enum(["password", "throttled", "no-role", "disabled", "name-taken"]),
    attemptedName: z.string().max(400),
    /** Failures of this name from this address in the current window, this one included. */
    failures: z.number().int().positive(),
    /** This failure starts a pause for the name from this address, or for the address. */
    paused: z.boolean().optional(),
  }),
  "token.create": z.object({
    tokenName: z.string(),
    prefix: z.string(),
    /** The token's limits; absent or null: none of that kind. */
    channels: z.array(z.string()).nullable().optional(),
    permissions: z.array(z.string()).nullable().optional(),
    expiresAt: z.string().nullable().optional(),
  }),
  "token.revoke": z.object({ tokenName: z.string(), prefix: z.string() }),
  "user.role": z.object({ from: z.string(), to: z.string() }),
  // A refused API mutation, aggregated (lib/auth/refusals.ts): written for the 1st, 10th, 100th, ...
  // refusal of one caller, route and reason in a window, up to a cap per caller and address.
  "auth.refused": z.object({
    method: z.string(),
    /** Route pattern, e.g. /api/channels/:name/promote. */
    route: z.string(),
    status: z.number().int(),
    code: z.string(),
    /** no-credentials | token-unknown | token-revoked | token-expired | user-disabled | role | token-permission | token-admin | token-channel | token-no-channel | cross-origin | validation | not-found | too-large | gate | busy | conflict | ... */
    reason: z.string(),
    message: z.string().max(400),
    permission: z.string().optional(),
    channel: z.string().optional(),
    /** The API token the request carried, by its listed prefix, and its state when it was refused for it. */
    token: z.object({ prefix: z.string(), state: z.string().optional() }).optional(),
    /** Refusals of this caller, address, route, reason and target in the current window, this one included. */
    count: z.number().int().positive(),
    /** The window's refusals of the same key before it restarted (counted, not all audited). */
    previousCount: z.number().int().positive().optional(),
    /** This event reaches the cap for the caller (or address); further refusals in the window are only counted. */
    capped: z.boolean().optional(),
  }),
} as const;

export type AuditAction = keyof typeof AUDIT_PAYLOADS;
export type AuditPayload<A extends AuditAction> = z.infer<(typeof AUDIT_PAYLOADS)[A]>;

/**
 * Appends one audit event inside the caller's transaction, so it lands with the change it records,
 * and links it into the hash chain (lib/audit/chain.ts) with the chain's head locked.
 */
export async function recordAudit<A extends AuditAction>(
  tx: Tx,
  actor: Actor,
  action: A,
  target: string | null,
  payload: AuditPayload<A>,
): Promise<void> {
  const parsed: Record<string, unknown> = AUDIT_PAYLOADS[action].parse(payload);
  const { seq, prevHash } = await advanceHead(tx);
  const content = {
    seq,
    at: new Date(),
    actorId: actor.id,
    actorName: actor.name,
    source: actor.source,
    action,
    target,
    channel: typeof parsed.channel === "string" ? parsed.channel : null,
    version: typeof parsed.version === "string" ? parsed.version : null,
    payload: JSON.stringify(parsed),
    ip: actor.ip ?? null,
    userAgent: actor.userAgent ?? null,
  };
  const hash = eventHash(content, prevHash);
  await tx.auditEvent.create({ data: { ...content, prevHash, hash } });
  await settleHead(tx, seq, hash);
}
