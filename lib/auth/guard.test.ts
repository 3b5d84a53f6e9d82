import { describe, expect, it } from "vitest";
import { isSameOrigin } from "./guard";

const post = (headers: Record<string, string>, url = "http://127.0.0.1:3000/api/hosts/refresh") => new Request(url, { method: "POST", headers });

describe("isSameOrigin", () => {
  it("accepts this site's Origin and a same-origin fetch", () => {
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "http://127.0.0.1:3000" }), 0, undefined)).toBe(true);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", "sec-fetch-site": "same-origin" }), 0, undefined)).toBe(true);
  });

  it("refuses another site, an opaque or broken Origin, and a request that says nothing", () => {
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "https://evil.example" }), 0, undefined)).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "null" }), 0, undefined)).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "::::" }), 0, undefined)).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", "sec-fetch-site": "cross-site" }), 0, undefined)).toBe(false);
    expect(isSameOrigin(post({ host: "127.0.0.1:3000" }), 0, undefined)).toBe(false);
  });

  it("compares the scheme too: https:// is not the origin of an http app", () => {
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", origin: "https://127.0.0.1:3000" }), 0, undefined)).toBe(false);
    expect(isSameOrigin(post({ origin: "https://channels.example.org" }), 0, "http://channels.example.org")).toBe(false);
  });

  it("trusts X-Forwarded-Host/Proto only from a trusted proxy", () => {
    const viaProxy = { host: "127.0.0.1:3000", "x-forwarded-host": "channels.example.org", "x-forwarded-proto": "https", origin: "https://channels.example.org" };
    expect(isSameOrigin(post(viaProxy), 1, undefined)).toBe(true);
    expect(isSameOrigin(post(viaProxy), 0, undefined)).toBe(false);
    // A direct client naming an attacker's site as the forwarded host gains nothing.
    expect(isSameOrigin(post({ host: "127.0.0.1:3000", "x-forwarded-host": "evil.example", origin: "http://evil.example" }), 0, undefined)).toBe(false);
  });

  it("compares with NEXTAUTH_URL when it is set, whatever the Host header says", () => {
    const url = "https://channels.example.org";
    expect(isSameOrigin(post({ host: "internal:3000", origin: "https://channels.example.org" }), 0, url)).toBe(true);
    expect(isSameOrigin(post({ host: "evil.example", origin: "https://evil.example" }), 0, url)).toBe(false);
    expect(isSameOrigin(post({ host: "channels.example.org", origin: "https://channels.example.org:8443" }), 0, url)).toBe(false);
  });
});
