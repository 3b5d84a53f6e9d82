import { requireApiPermission } from "@/lib/auth/guard";
import { lastAuditVerification, verifyAuditChainAs } from "@/lib/audit/verify";
import { json, readNoFields, route } from "@/lib/http";

export const dynamic = "force-dynamic";

/** The verdict of the last walk over the audit hash chain. */
export const GET = route(async (request) => {
  await requireApiPermission(request, "audit.read");
  return json({ verification: await lastAuditVerification() });
});

/** Walks the chain now (admin) and answers its verdict. */
export const POST = route(async (request) => {
  const { actor } = await requireApiPermission(request, "admin");
  await readNoFields(request);
  return json({ verification: await verifyAuditChainAs(actor) });
});
