// Administration from the shell: `npm run cli -- user add NAME --role ROLE` (password on stdin),
// `npm run cli -- token create NAME [--label LABEL] [--channels a,b] [--permissions p,q] [--expires 30d]`.
import os from "node:os";
import { parseArgs } from "node:util";
import type { Actor } from "../lib/audit/log";
import { isRole, ROLES } from "../lib/auth/permissions";
import { createApiToken, listApiTokens, parseExpiry, revokeApiToken, splitList } from "../lib/auth/tokens";
import { runAuditVerification } from "../lib/audit/verify";
import { addUser, disableUser } from "../lib/auth/users";
import { getDb } from "../lib/db";
import { checkEnv } from "../lib/env";
import { isDeployCommand, runDeployCli } from "./deploy-cli";

const USAGE = `usage:
  npm run cli -- user add NAME --role ${ROLES.join("|")}     (password read from stdin; resets an existing user and ends its sessions)
  npm run cli -- user disable NAME                           (no more sign-in; its sessions end, its tokens stop working)
  npm run cli -- token create NAME [--label LABEL] [--channels a,b] [--permissions p,q] [--expires 30d]
                                                             (prints a new API token for user NAME, limited to those
                                                              channels and permissions within NAME's role; expiry as
                                                              30d, 12h, 90m, 45s or an ISO date)
  npm run cli -- token list [NAME]                           (prefixes, never the tokens)
  npm run cli -- token revoke PREFIX
  npm run cli -- promote|rollback|wait ...                   (through the JSON API with a token, for CI; npm run cli -- promote --help)
  npm run cli -- audit verify [--anchor SEQ:HASH]            (walks the audit hash chain; exit 1 naming the first event that does not match;
                                                             --anchor: a head printed by an earlier verify must still be in the chain)`;

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("Password (then Enter, Ctrl-D): ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

async function main(argv: string[]): Promise<number> {
  // A CI job has a URL and a token, no database or config: these talk to the JSON API only.
  if (isDeployCommand(argv[0])) return runDeployCli(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      role: { type: "string" },
      label: { type: "string" },
      channels: { type: "string" },
      permissions: { type: "string" },
      expires: { type: "string" },
      anchor: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  checkEnv();
  const actor: Actor = { id: null, name: `cli:${os.userInfo().username}`, source: "cli", role: "admin" };
  const [noun, verb, name] = positionals;
  if (noun === "user" && verb === "add" && name && positionals.length === 3) {
    if (!isRole(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
    const user = await addUser(name, values.role, await readStdin(), actor);
    console.log(`user ${user.name} (${user.role}) saved`);
    return 0;
  }
  if (noun === "user" && verb === "disable" && name && positionals.length === 3) {
    await disableUser(name, actor);
    console.log(`user ${name} disabled`);
    return 0;
  }
  if (noun === "token" && verb === "list" && positionals.length <= 3) {
    for (const t of await listApiTokens(name)) {
      const state = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : t.lastUsedAt ? `last used ${t.lastUsedAt.toISOString()}` : "never used";
      const limits = [
        t.channels ? `channels ${t.channels.join(",")}` : "",
        t.permissions ? `permissions ${t.permissions.join(",")}` : "",
        t.expiresAt ? `expires ${t.expiresAt.toISOString()}` : "",
      ].filter(Boolean);
      console.log(`${t.prefix}…  ${t.user}  ${t.name}  created ${t.createdAt.toISOString()}  ${state}${limits.length ? `  ${limits.join("  ")}` : ""}`);
    }
    return 0;
  }
  if (noun === "token" && verb === "revoke" && name && positionals.length === 3) {
    const n = await revokeApiToken(name, actor);
    console.log(`${n} token(s) revoked`);
    return 0;
  }
  if (noun === "token" && verb === "create" && name && positionals.length === 3) {
    const { token } = await createApiToken(name, values.label ?? "cli", actor, {
      channels: splitList(values.channels),
      permissions: splitList(values.permissions),
      expiresAt: values.expires === undefined ? null : parseExpiry(values.expires),
    });
    console.log(token);
    return 0;
  }
  if (noun === "audit" && verb === "verify" && positionals.length === 2) {
    const anchor = values.anchor ? /^(\d+):([0-9a-f]{64})$/.exec(values.anchor) : null;
    if (values.anchor && !anchor) throw new UsageError("--anchor must be SEQ:HASH as printed by audit verify");
    const v = await runAuditVerification(actor.name, anchor ? { anchor: { seq: Number(anchor[1]), hash: anchor[2]! } } : {});
    const took = `${(v.durationMs / 1000).toFixed(1)} s`;
    if (!v.ok) {
      console.error(`audit chain broken: ${v.problem} (checked ${v.events} events in ${took})`);
      return 1;
    }
    console.log(`audit chain intact: ${v.events} events in ${took}; head seq ${v.headSeq}, hash ${v.headHash ?? "none"}`);
    return 0;
  }
  throw new UsageError("unknown command");
}

class UsageError extends Error {}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch(async (e: unknown) => {
    if (e instanceof UsageError) console.error(`${e.message}\n${USAGE}`);
    else console.error(`error: ${(e as Error).message}`);
    await getDb().$disconnect().catch(() => {});
    process.exit(e instanceof UsageError ? 2 : 1);
  });
