import type { Metadata } from "next";
import { requirePageUser } from "@/lib/auth/guard";
import { ROLES } from "@/lib/auth/permissions";
import { listUsers } from "@/lib/auth/user-admin";
import { PageHeader } from "../../../_components/ui";
import { UsersAdmin } from "./users-admin";

export const metadata: Metadata = { title: "Users" };
export const dynamic = "force-dynamic";

export default async function UsersPage() {
  const me = await requirePageUser();
  const users = await listUsers();
  return (
    <>
      <PageHeader
        title="Users"
        description="Accounts, their roles and their last sign-in. A role change applies to the user's sessions and tokens at their next request; disabling ends the sessions and stops the tokens at once."
      />
      <UsersAdmin
        me={me.name}
        roles={[...ROLES]}
        users={users.map((u) => ({ ...u, createdAt: u.createdAt.toISOString(), disabledAt: u.disabledAt?.toISOString() ?? null, lastSignInAt: u.lastSignInAt?.toISOString() ?? null }))}
        renderedAt={new Date().toISOString()}
      />
    </>
  );
}
