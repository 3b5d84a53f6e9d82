import { requireApiPermission } from "@/lib/auth/guard";
import { listUsers } from "@/lib/auth/user-admin";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "admin");
  const users = await listUsers();
  return json({
    users: users.map((u) => ({ ...u, createdAt: u.createdAt.toISOString(), disabledAt: u.disabledAt?.toISOString() ?? null, lastSignInAt: u.lastSignInAt?.toISOString() ?? null })),
  });
});
