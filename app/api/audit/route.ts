import { requireApiPermission } from "@/lib/auth/guard";
import { apiEvent, auditQuerySchema, listAuditEvents } from "@/lib/audit/queries";
import { json, route } from "@/lib/http";

export const dynamic = "force-dynamic";

export const GET = route(async (request) => {
  await requireApiPermission(request, "audit.read");
  const query = auditQuerySchema.parse(Object.fromEntries(new URL(request.url).searchParams));
  const { events, nextCursor } = await listAuditEvents(query);
  return json({ events: events.map(apiEvent), nextCursor });
});
