import { describe, expect, it } from "vitest";
import { isSameOrigin } from "./guard";

const post = (headers: Record<string, string>) => new Request("http://127.0.0.1:3000/api/hosts/refresh", { method: "POST", headers });

describe("isSameOrigin", () => {
  it("accepts this site's Origin and a same-origin fetch", () => {
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" }))).toBe(true);
    expect(isSameOrigin(post({ host: "internal:3000", "x-forwarded-host": "channels.example.org", origin: "https://channels.example.org" }))).toBe(true);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", "sec-fetch-site": "same-origin" }))).toBe(true);
  });

  it("refuses another site, an opaque or broken Origin, and a request that says nothing", () => {
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "https://evil.example" }))).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "null" }))).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "::::" }))).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", "sec-fetch-site": "cross-site" }))).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000" }))).toBe(false);
  });
});
