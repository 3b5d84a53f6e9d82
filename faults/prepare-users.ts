// Adds the fault suite's users and API tokens through the app's own functions (as
// `npm run cli -- user add / token create` do) and prints the tokens as JSON on stdout.
import type { Actor } from "../lib/audit/log";
import { createApiToken, revokeApiTokenById } from "../lib/auth/tokens";
import { addUser } from "../lib/auth/users";
import { getDb } from "../lib/db";
import { USERS, type Tokens } from "./harness";

const actor: Actor = { id: null, name: "cli:faults", source: "cli", role: "admin" };

async function main() {
  for (const u of Object.values(USERS)) await addUser(u.name, u.role, u.password, actor);
  const token = async (user: string, label: string, limits = {}) => (await createApiToken(user, label, actor, limits)).token;
  const revoked = await createApiToken(USERS.admin.name, "revoked", actor);
  await revokeApiTokenById(revoked.id, actor);
  const tokens: Tokens = {
    admin: await token(USERS.admin.name, "faults"),
    deployer: await token(USERS.deployer.name, "faults"),
    viewer: await token(USERS.viewer.name, "faults"),
    canaryOnly: await token(USERS.deployer.name, "canary only", { channels: ["canary"], permissions: ["channels.promote", "builds.read"] }),
    revoked: revoked.token,
    // Expires before any scenario uses it.
    expired: await token(USERS.admin.name, "expiring", { expiresAt: new Date(Date.now() + 1500) }),
  };
  await getDb().$disconnect();
  process.stdout.write(JSON.stringify(tokens));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
