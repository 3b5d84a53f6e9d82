import NextAuth from "next-auth";
import { NextRequest } from "next/server";
import { AUTH_BODY_LIMIT } from "@/lib/body-limits";
import { authOptions } from "@/lib/auth/options";
import { readBody, route } from "@/lib/http";

type Context = { params: Promise<{ nextauth: string[] }> };

/** next-auth reads the whole form itself; it gets a copy read with a cap instead of the raw stream. */
async function handler(request: Request, context: Context) {
  let req = request as NextRequest;
  if (request.method === "POST") {
    const body = await readBody(request, AUTH_BODY_LIMIT);
    req = new NextRequest(request.url, { method: "POST", headers: request.headers, body });
  }
  return NextAuth(authOptions({ headers: request.headers }))(req, context);
}

export const GET = route(handler);
export const POST = route(handler);
