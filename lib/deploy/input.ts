import "server-only";
import { z } from "zod";
import { isValidVersion } from "../apt/version";
import type { Actor } from "../audit/log";

// What a person or a script may send to start a deployment, checked before anything else runs.

/** A Debian version, by dpkg's grammar: nothing else ever reaches a command line. */
export const versionSchema = z
  .string()
  .min(1, "version is required")
  .max(200, "version is too long")
  .refine(isValidVersion, "version is not a valid Debian version (epoch:upstream-revision, letters, digits and . + ~ - : only)");

/** Why: one line a colleague can read in the log, 1–500 characters, no control characters. */
export const reasonSchema = z
  .string()
  .trim()
  .min(1, "a reason is required")
  .max(500, "the reason is longer than 500 characters")
  .refine((r) => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(r), "the reason must be one line without control characters");

export const planRequestSchema = z.object({ version: versionSchema, kind: z.enum(["promote", "rollback"]).default("promote") }).strict();

export const promoteRequestSchema = z
  .object({
    version: versionSchema,
    reason: reasonSchema,
    /** Admins only: start although the channel's gate refuses the build. */
    override: z.boolean().default(false),
  })
  .strict();

export const rollbackRequestSchema = z
  .object({
    reason: reasonSchema,
    /** Default: the channel's previous good version from its deployment history. */
    version: versionSchema.optional(),
    override: z.boolean().default(false),
  })
  .strict();

export const retryRequestSchema = z.object({ reason: reasonSchema.optional() }).strict();

/**
 * The Server Admin Log line release engineers paste into IRC (and that later steps post by themselves).
 */
export function salLine(actor: Pick<Actor, "name">, kind: "promote" | "rollback", pkg: string, version: string, channel: string, reason: string): string {
  const verb = kind === "rollback" ? "Rolling back" : "Upgrading";
  return `!log ${actor.name}: ${verb} ${pkg} to ${version} in beta cluster (${channel}): ${reason}`;
}

/** A deployment id from a path segment. */
export const deploymentIdSchema = z.coerce.number({ error: "a deployment id is a number" }).int().positive().max(2 ** 31 - 1);
