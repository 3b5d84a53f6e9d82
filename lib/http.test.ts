import { describe, expect, it } from "vitest";
import { z } from "zod";
import { API_BODY_LIMIT, AUTH_BODY_LIMIT, bodyLimitFor } from "./body-limits";
import { readBody, readJson } from "./http";

const MB = 1024 * 1024;

/** A body made on demand in 64 KiB chunks, counting what the reader actually pulled. */
function lazyBody(total: number) {
  const stats = { pulled: 0, cancelled: false };
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(64 * 1024, total - sent);
      sent += n;
      stats.pulled += n;
      controller.enqueue(new Uint8Array(n).fill(0x20));
    },
    cancel() {
      stats.cancelled = true;
    },
  });
  return { stream, stats };
}

const post = (body: BodyInit | null, headers: Record<string, string> = {}) =>
  new Request("http://127.0.0.1:3000/api/builds/refresh", { method: "POST", body, headers, duplex: "half" } as RequestInit);

describe("request body caps", () => {
  it("refuses a declared 10 MB body with 413 without reading any of it", async () => {
    const { stream, stats } = lazyBody(10 * MB);
    await expect(readJson(post(stream, { "content-length": String(10 * MB) }), z.object({}))).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE", status: 413 });
    expect(stats.pulled).toBeLessThanOrEqual(64 * 1024); // at most what the stream buffered on its own
  });

  it("stops reading a chunked 10 MB body just past the limit, with 413", async () => {
    const { stream, stats } = lazyBody(10 * MB);
    await expect(readJson(post(stream), z.object({}))).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(stats.pulled).toBeLessThanOrEqual(API_BODY_LIMIT + 2 * 64 * 1024);
    expect(stats.cancelled).toBe(true);
  });

  it("takes a body up to the limit, and a smaller limit when asked", async () => {
    const small = JSON.stringify({ reason: "x".repeat(1000) });
    expect(await readJson(post(small), z.object({ reason: z.string() }))).toEqual({ reason: "x".repeat(1000) });
    const big = JSON.stringify({ reason: "x".repeat(API_BODY_LIMIT - 20) });
    expect((await readBody(post(big), API_BODY_LIMIT)).byteLength).toBe(big.length);
    await expect(readBody(post(big), AUTH_BODY_LIMIT)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });

  it("still answers 400 for a body that is not UTF-8 JSON, and {} for an empty optional one", async () => {
    await expect(readJson(post("{nope"), z.object({}))).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(readJson(post(new Uint8Array([0x7b, 0xff, 0x7d])), z.object({}))).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await readJson(post(null), z.object({ force: z.boolean().default(false) }), { optional: true })).toEqual({ force: false });
  });

  it("gives next-auth's routes the small limit and the rest of the API the JSON one", () => {
    expect(bodyLimitFor("/api/auth/callback/credentials")).toBe(AUTH_BODY_LIMIT);
    expect(bodyLimitFor("/api/auth")).toBe(AUTH_BODY_LIMIT);
    expect(bodyLimitFor("/api/authors")).toBe(API_BODY_LIMIT);
    expect(bodyLimitFor("/api/channels/beta/promote")).toBe(API_BODY_LIMIT);
  });
});
