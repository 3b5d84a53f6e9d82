import { z } from "zod";
import { requireApiPermission } from "@/lib/auth/guard";
import { auditFilterSchema, exportAuditEvents } from "@/lib/audit/queries";
import { route } from "@/lib/http";

export const dynamic = "force-dynamic";

const exportSchema = auditFilterSchema.extend({ format: z.enum(["csv", "json"]).default("csv") });

export const GET = route(async (request) => {
  await requireApiPermission(request, "audit.read");
  const q = exportSchema.parse(Object.fromEntries(new URL(request.url).searchParams));
  const encoder = new TextEncoder();
  const chunks = exportAuditEvents(q.format, q);
  // One keyset page per pull: the response is never held whole, and a client that goes away stops the reads.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
  const stamp = new Date().toISOString().slice(0, 19).replaceAll(":", "");
  return new Response(body, {
    headers: {
      "content-type": q.format === "csv" ? "text/csv; charset=utf-8" : "application/json; charset=utf-8",
      "content-disposition": `attachment; filename="scap-channels-audit-${stamp}.${q.format}"`,
      "cache-control": "no-store",
    },
  });
});
