import "server-only";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { authorize } from "./authorize";
import { isRole, ROLES, type Role } from "./permissions";
import { disableUser } from "./users";

export interface UserInfo {
  id: number;
  name: string;
  role: string;
  createdAt: Date;
  disabledAt: Date | null;
  /** The user row's, or for sign-ins before it was kept, the newest user.signin event's. */
  lastSignInAt: Date | null;
  activeTokens: number;
}

/** Every user with role, creation, last sign-in, disabled and how many tokens still work. */
export async function listUsers(): Promise<UserInfo[]> {
  const db = getDb();
  const now = new Date();
  const [users, signins, tokens] = await Promise.all([
    db.user.findMany({ orderBy: { name: "asc" } }),
    db.auditEvent.groupBy({ by: ["actorId"], where: { action: "user.signin", actorId: { not: null } }, _max: { at: true } }),
    db.apiToken.groupBy({ by: ["userId"], where: { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] }, _count: { _all: true } }),
  ]);
  const lastSignIn = new Map(signins.map((s) => [s.actorId, s._max.at]));
  const tokenCount = new Map(tokens.map((t) => [t.userId, t._count._all]));
  return users.map((u) => ({
    id: u.id,
    name: u.name,
    role: u.role,
    createdAt: u.createdAt,
    disabledAt: u.disabledAt,
    lastSignInAt: u.lastSignInAt ?? lastSignIn.get(u.id) ?? null,
    activeTokens: tokenCount.get(u.id) ?? 0,
  }));
}

/** The admin pages act on other accounts; one's own is changed from the CLI, so nobody locks themselves out by a click. */
function refuseSelf(actor: Actor, userId: number, what: string) {
  if (actor.id !== null && actor.id === userId) throw new AppError("CONFLICT", `You cannot ${what} your own account here; ask another admin or use the CLI.`, { refusal: "self" });
}

/**
 * Changes a user's role. Sessions and tokens take the new role at their next request (the role is
 * read at each use); a token limited to permissions keeps only those the new role holds.
 */
export async function setUserRole(name: string, role: Role, actor: Actor): Promise<void> {
  authorize(actor, "admin");
  if (!isRole(role)) throw new AppError("BAD_REQUEST", `role must be one of ${ROLES.join(", ")}`);
  await getDb().$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where: { name } });
    if (!user) throw new AppError("NOT_FOUND", `No user named ${name}.`);
    refuseSelf(actor, user.id, "change the role of");
    if (user.role === role) return;
    await tx.user.update({ where: { id: user.id }, data: { role } });
    await recordAudit(tx, actor, "user.role", name, { from: user.role, to: role });
  });
}

/** Disables another user (lib/auth/users.ts): no sign-in, sessions end, tokens stop working. */
export async function disableOtherUser(name: string, actor: Actor): Promise<void> {
  authorize(actor, "admin");
  const user = await getDb().user.findUnique({ where: { name } });
  if (!user) throw new AppError("NOT_FOUND", `No user named ${name}.`);
  refuseSelf(actor, user.id, "disable");
  if (user.disabledAt) throw new AppError("CONFLICT", `${name} is already disabled.`);
  await disableUser(name, actor);
}
