import { describe, expect, it } from "vitest";
import { clientAddress, forwardedValue, parseAddress } from "./client-address";

const h = (xff?: string) => new Headers(xff === undefined ? {} : { "x-forwarded-for": xff });

describe("parseAddress", () => {
  it("accepts IPv4 and IPv6 addresses only, normalized", () => {
    expect(parseAddress("192.0.2.1")).toBe("192.0.2.1");
    expect(parseAddress(" 2001:DB8::1 ")).toBe("2001:db8::1");
    expect(parseAddress("::1")).toBe("::1");
    expect(parseAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
  });

  it("refuses anything else: names, ports, text, overlong input", () => {
    for (const bad of ["", "unknown", "localhost", "192.0.2.1:8080", "[::1]", "256.1.1.1", "1.2.3", "<script>", "192.0.2.1 or 1=1", "a".repeat(100), null, undefined]) {
      expect(parseAddress(bad)).toBeNull();
    }
  });
});

describe("clientAddress", () => {
  it("without trusted proxies reads the one address Next's server took from the socket", () => {
    expect(clientAddress(h("192.0.2.1"), 0)).toBe("192.0.2.1");
    expect(clientAddress(h("::ffff:10.1.2.3"), 0)).toBe("10.1.2.3");
    expect(clientAddress(h(), 0)).toBeNull();
    expect(clientAddress(h("not an address"), 0)).toBeNull();
  });

  it("with N trusted proxies takes the N-th address from the right, never one the client wrote before it", () => {
    // client 203.0.113.5 wrote "1.1.1.1" itself; nginx appended the address it saw.
    expect(clientAddress(h("1.1.1.1, 203.0.113.5"), 1)).toBe("203.0.113.5");
    // client -> P1 (adds the client) -> P2 (adds P1) -> app
    expect(clientAddress(h("1.1.1.1, 203.0.113.5, 10.0.0.2"), 2)).toBe("203.0.113.5");
    expect(clientAddress(h("203.0.113.5"), 2)).toBeNull();
    expect(clientAddress(h("1.1.1.1, evil"), 1)).toBeNull();
  });

  it("reads the plain header objects next-auth passes too", () => {
    expect(clientAddress({ "x-forwarded-for": "192.0.2.8" }, 0)).toBe("192.0.2.8");
    expect(clientAddress({ "x-forwarded-for": ["1.1.1.1", "192.0.2.8"] }, 1)).toBe("192.0.2.8");
    expect(clientAddress(undefined, 0)).toBeNull();
  });
});

describe("forwardedValue", () => {
  it("is only read when a proxy is trusted, and then the value the nearest proxy wrote", () => {
    const headers = new Headers({ "x-forwarded-host": "evil.example, channels.example.org", "x-forwarded-proto": "https" });
    expect(forwardedValue(headers, "x-forwarded-host", 0)).toBeNull();
    expect(forwardedValue(headers, "x-forwarded-host", 1)).toBe("channels.example.org");
    expect(forwardedValue(headers, "x-forwarded-proto", 1)).toBe("https");
    expect(forwardedValue(new Headers(), "x-forwarded-proto", 1)).toBeNull();
  });
});
