// The configuration file's shape. Pure (no I/O) so the sandbox, scripts and tests can share it.
import { z } from "zod";
import { placeholders } from "./shell";

// dpkg's status comes first: `${Version}` alone still prints a version, with exit 0, for a package
// that was removed but not purged.
export const DEFAULT_VERSION_COMMAND = "dpkg-query -W -f='${db:Status-Abbrev} ${Version}' {package}";
export const DEFAULT_INSTALL_COMMAND =
  "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -q --error-on=any && " +
  "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades {package}={version}";

const hostName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, "must be a host name (letters, digits, dots, dashes)");
const channelName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, "must be lower-case letters, digits and dashes, starting with a letter");
const seconds = (def: number, max = 86_400) => z.number().positive().max(max).default(def);

export const repositorySchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    /** Suite under dists/, or "./" style flat repository when `flat` is true. */
    suite: z.string().min(1).default("beta"),
    flat: z.boolean().default(false),
    component: z.string().min(1).default("main"),
    architecture: z.string().min(1).default("amd64"),
    package: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name").default("scap"),
    /** OpenPGP public keys (armored or binary), one file or several. */
    keyring: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /** Accept an index without a signature. Never the default. */
    unsigned: z.boolean().default(false),
    refreshSeconds: seconds(300),
    timeoutSeconds: seconds(30, 600),
    maxDownloadBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** Link to what changed between two builds, with `{from}` and `{to}` git commits. */
    compareUrl: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .refine((u) => u.includes("{from}") && u.includes("{to}"), "must contain {from} and {to}")
      .optional(),
  })
  .strict()
  .refine((r) => r.unsigned || r.keyring !== undefined, {
    path: ["keyring"],
    error: "is required unless repository.unsigned is true",
  });

export const sshSchema = z
  .object({
    user: z.string().min(1).default("root"),
    port: z.number().int().min(1).max(65535).default(22),
    privateKeyPath: z.string().min(1),
    knownHostsPath: z.string().min(1),
    jumpHost: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535).default(22),
        user: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    concurrency: z.number().int().min(1).max(500).default(50),
    /** SSH handshakes under way at once in the process; unset: min(concurrency, 64). */
    maxHandshakes: z.number().int().min(1).max(500).optional(),
    connectTimeoutSeconds: seconds(10, 300),
    commandTimeoutSeconds: seconds(600, 7200),
    /** Bytes kept of each command's stdout and stderr. */
    maxOutputBytes: z.number().int().min(1024).default(256 * 1024),
  })
  .strict();

/**
 * A command template: only the named placeholders, each required one present, and none inside
 * quotes (values are quoted when filled in; quoting them again would undo that).
 */
function template(allowed: string[], required: string[]) {
  return z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const used = placeholders(t);
      const unknown = used.filter((p) => !allowed.includes(p));
      if (unknown.length) ctx.addIssue({ code: "custom", message: `unknown placeholder(s) ${unknown.map((p) => `{${p}}`).join(", ")}; allowed: ${allowed.map((p) => `{${p}}`).join(", ")}` });
      const missing = required.filter((p) => !used.includes(p));
      if (missing.length) ctx.addIssue({ code: "custom", message: `must use ${missing.map((p) => `{${p}}`).join(", ")}` });
      if (/["'](?<!\$)\{[a-zA-Z]+\}|(?<!\$)\{[a-zA-Z]+\}["']/.test(t)) ctx.addIssue({ code: "custom", message: "placeholders are quoted when filled in; write them without quotes" });
    });
}

export const commandsSchema = z
  .object({
    version: template(["package"], []).default(DEFAULT_VERSION_COMMAND),
    install: template(["package", "version"], ["version"]).default(DEFAULT_INSTALL_COMMAND),
    healthCheck: template(["package", "version"], []).optional(),
  })
  .strict();

export const hostSchema = z
  .object({
    name: hostName,
    address: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

export const channelSchema = z
  .object({
    name: channelName,
    hosts: z.union([z.literal("all"), z.array(hostName).min(1)]),
    /** A channel whose current version a build must run on before it can come here. */
    requires: channelName.optional(),
    /** Hosts that run at once within the deployment: a count, or a percentage of its hosts ("25%"). */
    batchSize: countOrPercent(1).default(1),
    /** Failed hosts tolerated before the run stops starting hosts: a count, or a percentage ("10%"). */
    maxFailures: countOrPercent(0).default(0),
    /** `newest`: every new build the repository reader accepts is promoted here by itself. */
    follow: z.literal("newest").optional(),
    /** After a successful promotion the build bakes here before channels that require this one take it. */
    bake: z
      .object({
        minutes: z.number().min(0).max(7 * 24 * 60),
        /** Run on every host of the channel during the bake; default commands.healthCheck. */
        healthCheck: template(["package", "version"], []).optional(),
        everySeconds: z.number().min(1).max(86_400).default(60),
      })
      .strict()
      .optional(),
    /** What a failed health check during the bake does besides marking the build failed here. */
    onBakeFailure: z.enum(["stay", "rollback"]).default("stay"),
  })
  .strict();

/** A count (at least `min`) or a percentage "N%" (1–100) of something counted later. */
function countOrPercent(min: number) {
  return z.union([
    z.number().int().min(min),
    z.string().regex(/^(100|[1-9][0-9]?)%$/, "must be a whole number or a percentage such as \"25%\""),
  ]);
}

/**
 * A count-or-percentage setting resolved against `total` hosts. A percentage rounds up, so "10%" of
 * 5 hosts is 1 (never 0 for a batch, which would run nothing).
 */
export function resolveCount(value: number | string, total: number, min: number): number {
  if (typeof value === "number") return value;
  const pct = Number(value.slice(0, -1));
  return Math.max(min, Math.ceil((total * pct) / 100));
}

export const serverSchema = z
  .object({
    /**
     * Reverse proxies in front of the app that append to X-Forwarded-For and set X-Forwarded-Host/Proto.
     * 0: clients connect directly and the socket address is the client's; forwarding headers are ignored.
     */
    trustedProxies: z.number().int().min(0).max(10).default(0),
  })
  .strict();

export const WEBHOOK_EVENTS = ["deployment.start", "deployment.finish"] as const;

export const webhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).default([...WEBHOOK_EVENTS]),
    /** Name of the environment variable holding the HMAC secret (secrets stay out of this file). */
    secretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name")
      .optional(),
    timeoutSeconds: seconds(10, 120),
    /** Deliveries after the first, with doubling back-off from retryDelaySeconds. */
    retries: z.number().int().min(0).max(10).default(4),
    retryDelaySeconds: z.number().min(0.1).max(3600).default(5),
  })
  .strict();

export const notificationsSchema = z
  .object({ webhooks: z.array(webhookSchema).default([]) })
  .strict();

const groupNames = z.array(z.string().min(1).max(512)).default([]);

/** http only for a provider on this machine (tests, a local proxy); anywhere else it must be https. */
const issuerUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).refine((u) => {
  const url = new URL(u);
  return url.protocol === "https:" || ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}, "must be an https URL (http only for 127.0.0.1, localhost or [::1])");

export const oidcSchema = z
  .object({
    /** The provider's issuer; its discovery document is read from <issuer>/.well-known/openid-configuration. */
    issuer: issuerUrl,
    clientId: z.string().min(1),
    /** Shown on the sign-in button: "Sign in with <name>". */
    name: z.string().min(1).max(60).default("single sign-on"),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be an OAuth scope (no spaces or quotes)"))
      .refine((s) => s.includes("openid"), "must include openid")
      .default(["openid", "profile"]),
    /** The claim (ID token or userinfo) that lists the person's groups; a dotted path reaches into an object. */
    groupsClaim: z.string().min(1).default("groups"),
    /** Groups granting each role, compared without regard to case; the highest role wins. */
    roles: z
      .object({ admin: groupNames, deployer: groupNames, viewer: groupNames })
      .strict()
      .default({ admin: [], deployer: [], viewer: [] }),
    /** The role of someone in none of the groups; without it they are refused. */
    defaultRole: z.enum(["viewer", "deployer", "admin"]).optional(),
  })
  .strict()
  .refine((o) => o.defaultRole !== undefined || o.roles.admin.length + o.roles.deployer.length + o.roles.viewer.length > 0, {
    path: ["roles"],
    error: "name at least one group (or set defaultRole): as it is, nobody could sign in with the identity provider",
  });

export const DEFAULT_SESSION_LIMITS = { idleMinutes: 120, maxHours: 12 };

export const authSchema = z
  .object({
    /** Password accounts made with the CLI; false leaves sign-in to the identity provider only. */
    local: z.boolean().default(true),
    session: z
      .object({
        /** A session not used for this long ends. */
        idleMinutes: z.number().positive().max(7 * 24 * 60).default(DEFAULT_SESSION_LIMITS.idleMinutes),
        /** A session ends this long after sign-in, however busy. */
        maxHours: z.number().positive().max(30 * 24).default(DEFAULT_SESSION_LIMITS.maxHours),
      })
      .strict()
      .default(DEFAULT_SESSION_LIMITS),
    oidc: oidcSchema.optional(),
  })
  .strict()
  .refine((a) => a.local || a.oidc !== undefined, {
    path: ["local"],
    error: "false needs auth.oidc: with neither, nobody could sign in",
  });

export const configSchema = z
  .object({
    repository: repositorySchema,
    ssh: sshSchema,
    commands: commandsSchema.default({
      version: DEFAULT_VERSION_COMMAND,
      install: DEFAULT_INSTALL_COMMAND,
    }),
    fleet: z
      .object({ refreshSeconds: seconds(300) })
      .strict()
      .default({ refreshSeconds: 300 }),
    hosts: z.array(hostSchema).min(1),
    channels: z.array(channelSchema).min(1),
    server: serverSchema.default({ trustedProxies: 0 }),
    auth: authSchema.default({ local: true, session: DEFAULT_SESSION_LIMITS }),
    notifications: notificationsSchema.default({ webhooks: [] }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const hosts = new Set<string>();
    c.hosts.forEach((h, i) => {
      if (hosts.has(h.name)) ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `duplicate host ${h.name}` });
      hosts.add(h.name);
    });
    const channels = new Set(c.channels.map((ch) => ch.name));
    const seen = new Set<string>();
    c.channels.forEach((ch, i) => {
      if (seen.has(ch.name)) ctx.addIssue({ code: "custom", path: ["channels", i, "name"], message: `duplicate channel ${ch.name}` });
      seen.add(ch.name);
      if (ch.hosts !== "all") {
        ch.hosts.forEach((h, j) => {
          if (!hosts.has(h)) ctx.addIssue({ code: "custom", path: ["channels", i, "hosts", j], message: `unknown host ${h}` });
        });
      }
      if (ch.requires !== undefined && (!channels.has(ch.requires) || ch.requires === ch.name)) {
        ctx.addIssue({ code: "custom", path: ["channels", i, "requires"], message: `unknown channel ${ch.requires}` });
      }
    });
  });

export type AppConfig = z.infer<typeof configSchema>;
export type RepositoryConfig = AppConfig["repository"];
export type SshConfig = AppConfig["ssh"];
export type HostConfig = AppConfig["hosts"][number];
export type ChannelConfig = AppConfig["channels"][number];
export type AuthConfig = AppConfig["auth"];
export type OidcConfig = NonNullable<AuthConfig["oidc"]>;
export type WebhookConfig = AppConfig["notifications"]["webhooks"][number];
