import "server-only";
import { NextResponse } from "next/server";
import { z } from "zod";
import { ConfigError } from "./config";
import { AppError } from "./errors";

export function jsonError(status: number, code: string, message: string) {
  return NextResponse.json({ error: { code, message } }, { status, headers: { "cache-control": "no-store" } });
}

/** Wraps a route handler: expected errors become `{ error: { code, message } }`, others a logged 500. */
export function route<Args extends unknown[]>(handler: (request: Request, ...args: Args) => Promise<Response>) {
  return async (request: Request, ...args: Args): Promise<Response> => {
    try {
      return await handler(request, ...args);
    } catch (e) {
      if (e instanceof AppError) return jsonError(e.status, e.code, e.message);
      if (e instanceof z.ZodError) {
        const issue = e.issues[0];
        const where = issue && issue.path.length ? `${issue.path.join(".")}: ` : "";
        return jsonError(400, "BAD_REQUEST", `${where}${issue?.message ?? "invalid input"}`);
      }
      if (e instanceof ConfigError) return jsonError(503, "UNAVAILABLE", e.message);
      console.error(`[api] ${request.method} ${new URL(request.url).pathname} failed:`, e);
      return jsonError(500, "INTERNAL", "Internal error; the server log has the details.");
    }
  };
}

export function json(data: unknown, status = 200) {
  return NextResponse.json(data, { status, headers: { "cache-control": "no-store" } });
}

/** Parses a JSON body with a schema; a body that is not JSON is a 400 too. `optional`: an empty body is `{}`. */
export async function readJson<T>(request: Request, schema: z.ZodType<T>, opts: { optional?: boolean } = {}): Promise<T> {
  const text = await request.text();
  if (opts.optional && text.trim() === "") return schema.parse({});
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "The request body must be JSON.");
  }
  return schema.parse(body);
}
