import "server-only";
import { NextResponse } from "next/server";
import { z } from "zod";
import { CONFIG_PROBLEM_NOTICE } from "./auth/config-details";
import { auditRefusal } from "./auth/refusals";
import { ConfigError } from "./config";
import { API_BODY_LIMIT, bodyLimitFor, tooLargeMessage } from "./body-limits";
import { AppError } from "./errors";
import { storageProblem } from "./storage-errors";

export function jsonError(status: number, code: string, message: string) {
  return NextResponse.json({ error: { code, message } }, { status, headers: { "cache-control": "no-store" } });
}

/** Wraps a route handler: expected errors become `{ error: { code, message } }` (refused mutations audited), others a logged 500. */
export function route<Args extends unknown[]>(handler: (request: Request, ...args: Args) => Promise<Response>) {
  return async (request: Request, ...args: Args): Promise<Response> => {
    try {
      // Declared bodies this large skip proxy.ts (so Next does not buffer them) and stop here.
      const limit = bodyLimitFor(new URL(request.url).pathname);
      if (Number(request.headers.get("content-length") ?? 0) > limit) throw new AppError("PAYLOAD_TOO_LARGE", tooLargeMessage(limit));
      return await handler(request, ...args);
    } catch (e) {
      // Every refused mutation (400/401/403/404/409/413) is counted and, bounded, audited.
      await auditRefusal(request, e);
      if (e instanceof AppError) {
        const response = jsonError(e.status, e.code, e.message);
        // Close rather than read the rest of a refused body off the connection.
        if (e.code === "PAYLOAD_TOO_LARGE") response.headers.set("connection", "close");
        return response;
      }
      if (e instanceof z.ZodError) {
        const issue = e.issues[0];
        const where = issue && issue.path.length ? `${issue.path.join(".")}: ` : "";
        return jsonError(400, "BAD_REQUEST", `${where}${issue?.message ?? "invalid input"}`);
      }
      // The details (with paths) are for admins, on the pages and /api/health.
      if (e instanceof ConfigError) return jsonError(503, "UNAVAILABLE", CONFIG_PROBLEM_NOTICE);
      const storage = storageProblem(e);
      if (storage) {
        console.error(`[api] ${request.method} ${new URL(request.url).pathname}: ${storage}`, (e as Error).message);
        return jsonError(503, "UNAVAILABLE", storage);
      }
      console.error(`[api] ${request.method} ${new URL(request.url).pathname} failed:`, e);
      return jsonError(500, "INTERNAL", "Internal error; the server log has the details.");
    }
  };
}

export function json(data: unknown, status = 200) {
  return NextResponse.json(data, { status, headers: { "cache-control": "no-store" } });
}

/**
 * The request body, refused with 413 beyond `limit` bytes without holding more than that: a
 * declared Content-Length says so at once, a chunked body is counted as it streams in.
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw new AppError("PAYLOAD_TOO_LARGE", tooLargeMessage(limit));
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new AppError("PAYLOAD_TOO_LARGE", tooLargeMessage(limit));
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/**
 * Parses a JSON body (at most `maxBytes`, default API_BODY_LIMIT) with a schema; a body that is
 * not UTF-8 JSON is a 400 too. `optional`: an empty body is `{}`.
 */
export async function readJson<T>(request: Request, schema: z.ZodType<T>, opts: { optional?: boolean; maxBytes?: number } = {}): Promise<T> {
  const bytes = await readBody(request, opts.maxBytes ?? API_BODY_LIMIT);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AppError("BAD_REQUEST", "The request body must be JSON.");
  }
  if (opts.optional && text.trim() === "") return schema.parse({});
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "The request body must be JSON.");
  }
  return schema.parse(body);
}

const NO_FIELDS = z.object({}).strict();

/** For requests that take no fields: an empty body or `{}`; anything else is a 400, before anything changes. */
export async function readNoFields(request: Request): Promise<void> {
  await readJson(request, NO_FIELDS, { optional: true });
}
