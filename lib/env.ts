// Environment variables the app reads, validated once at start (scripts/prepare-db.ts).
import { z } from "zod";
import { resolveDatabaseUrl } from "./database-url";

export const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return resolveDatabaseUrl(v || undefined);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    }),
  SCAP_CHANNELS_CONFIG: z.string().min(1).optional(),
  PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Address `npm start` / `npm run dev` listen on; 127.0.0.1 unless set (0.0.0.0 or :: for every interface). */
  HOST: z
    .string()
    .regex(/^(?:[0-9a-fA-F:]+|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)?$/, "must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0")
    .optional(),
  NEXTAUTH_SECRET: z.string().min(32, "must be at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
  NEXTAUTH_URL: z.url().optional(),
  /** The identity provider's client secret (auth.oidc); kept out of the config file. */
  SCAP_CHANNELS_OIDC_CLIENT_SECRET: z.string().min(1, "must not be empty: the client secret registered at the identity provider").optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Validates the environment; the message names each bad variable. */
export function checkEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  - ${i.path.join(".")}: ${i.message}`);
  throw new Error(`Invalid environment:\n${lines.join("\n")}`);
}
