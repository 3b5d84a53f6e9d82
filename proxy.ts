import { NextResponse, type NextRequest } from "next/server";
import { FORWARDING_HEADERS, trustedProxies } from "@/lib/auth/client-address";
import { bodyLimitFor, tooLargeMessage } from "@/lib/body-limits";

// Runs before every route (Node.js runtime). Two jobs:
// - Without a trusted proxy, forwarding headers are the client's own words: drop them, and Next's
//   server fills X-Forwarded-For/-Host/-Proto again from the socket for the route (see
//   lib/auth/client-address.ts).
// - A declared body over the route's limit is refused here; routes count chunked bodies themselves.
export function proxy(request: NextRequest) {
  const declared = request.headers.get("content-length");
  const limit = bodyLimitFor(request.nextUrl.pathname);
  if (declared !== null && Number(declared) > limit) {
    return NextResponse.json(
      { error: { code: "PAYLOAD_TOO_LARGE", message: tooLargeMessage(limit) } },
      { status: 413, headers: { "cache-control": "no-store", connection: "close" } },
    );
  }
  if (trustedProxies() > 0) return NextResponse.next();
  const headers = new Headers(request.headers);
  for (const h of FORWARDING_HEADERS) headers.delete(h);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  matcher: [
    {
      // Static assets need neither job; everything else (pages, server actions, API) does.
      source: "/((?!_next/static|_next/image|favicon.ico).*)",
      // Next buffers the body of a request proxy.ts handles and reads it to the end before the
      // route answers; a body declared this large (>= 100 000 bytes) goes straight to the route,
      // which refuses it at once (route() in lib/http.ts) without reading it.
      missing: [{ type: "header", key: "content-length", value: "\\d{6,}" }],
    },
  ],
};
