import { jsonError } from "@/lib/http";

export const dynamic = "force-dynamic";

/** Any /api path no route serves: a JSON 404 like every other API error, never the HTML page. */
function notFound(request: Request) {
  const { pathname } = new URL(request.url);
  return jsonError(404, "NOT_FOUND", `No API endpoint at ${pathname.slice(0, 200)}; see the JSON API section of README.md.`);
}

export { notFound as GET, notFound as POST, notFound as PUT, notFound as PATCH, notFound as DELETE, notFound as HEAD, notFound as OPTIONS };
