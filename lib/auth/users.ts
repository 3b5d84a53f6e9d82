import "server-only";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { AppError } from "../errors";
import { authorize } from "./authorize";
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./password";
import { ROLES, type Role } from "./permissions";
import { endUserSessions } from "./sessions";

export const userNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9._-]{1,39}$/, "a user name is 2-40 lower-case letters, digits, dots, dashes or underscores");

export interface SessionUser {
  id: number;
  name: string;
  role: Role;
}

/** Creates a user, or sets the password and role of an existing one (which ends its sessions). */
export async function addUser(name: string, role: Role, password: string, actor: Actor): Promise<SessionUser> {
  authorize(actor, "admin");
  const parsedName = userNameSchema.safeParse(name);
  if (!parsedName.success) throw new AppError("BAD_REQUEST", parsedName.error.issues[0]!.message);
  if (!ROLES.includes(role)) throw new AppError("BAD_REQUEST", `role must be one of ${ROLES.join(", ")}`);
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new AppError("BAD_REQUEST", `a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  const passwordHash = await hashPassword(password);
  return getDb().$transaction(async (tx) => {
    const existing = await tx.user.findUnique({ where: { name }, select: { oidcSubject: true } });
    if (existing?.oidcSubject) {
      throw new AppError("CONFLICT", `${name} signs in with the identity provider; a password would give it a second way in. Its role follows its groups there.`);
    }
    const user = await tx.user.upsert({
      where: { name },
      create: { name, role, passwordHash },
      update: { role, passwordHash, disabledAt: null },
    });
    await endUserSessions(tx, user.id);
    await recordAudit(tx, actor, "user.add", name, { role });
    return { id: user.id, name: user.name, role };
  });
}

/** The user for a name and password, or null; disabled users cannot sign in. */
export async function authenticate(name: string, password: string): Promise<SessionUser | null> {
  const user = await getDb().user.findUnique({ where: { name }, omit: { passwordHash: false } });
  // Verify against a dummy hash when the user is unknown, so timing does not tell names apart.
  const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
  if (!user || !ok || user.disabledAt) return null;
  return { id: user.id, name: user.name, role: user.role as Role };
}

const DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/** Disables a user: no sign-in, its sessions end and its API tokens stop working. The row and its history stay. */
export async function disableUser(name: string, actor: Actor): Promise<void> {
  authorize(actor, "admin");
  await getDb().$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where: { name } });
    if (!user) throw new AppError("NOT_FOUND", `no user named ${name}`);
    if (user.disabledAt) return;
    await tx.user.update({ where: { id: user.id }, data: { disabledAt: new Date() } });
    await endUserSessions(tx, user.id);
    await recordAudit(tx, actor, "user.disable", name, {});
  });
}
