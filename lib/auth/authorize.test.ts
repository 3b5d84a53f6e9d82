import { describe, expect, it } from "vitest";
import type { Actor } from "../audit/log";
import { authorize, checkPermission } from "./authorize";
import type { TokenScope } from "./permissions";

const actor = (role: Actor["role"], scope?: Partial<TokenScope>): Actor => ({
  id: 7,
  name: "ci",
  source: "api",
  role,
  ...(scope ? { scope: { prefix: "sct_abcdef", permissions: null, channels: null, ...scope } } : {}),
});

describe("checkPermission: role ∩ token permissions ∩ token channels", () => {
  it("allows what the role holds when there is no token limit", () => {
    expect(checkPermission(actor("deployer"), "channels.promote", "beta")).toBeNull();
    expect(checkPermission(actor("deployer"), "channels.promote")).toBeNull();
    expect(checkPermission(actor("viewer"), "channels.promote", "canary")).toMatchObject({ reason: "role" });
  });

  it("never goes past the role, whatever the token lists", () => {
    expect(checkPermission(actor("viewer", { permissions: ["channels.promote"] }), "channels.promote", "canary")).toMatchObject({ reason: "role" });
    expect(checkPermission(actor("deployer", { permissions: ["admin"] }), "admin")).toMatchObject({ reason: "role" });
  });

  it("limits to the token's permissions", () => {
    const a = actor("admin", { permissions: ["channels.promote", "builds.read"] });
    expect(checkPermission(a, "channels.promote", "beta")).toBeNull();
    expect(checkPermission(a, "builds.read")).toBeNull();
    expect(checkPermission(a, "channels.rollback", "beta")).toMatchObject({ reason: "token-permission", permission: "channels.rollback" });
    expect(checkPermission(a, "hosts.refresh")).toMatchObject({ reason: "token-permission" });
    expect(checkPermission(a, "admin")).toMatchObject({ reason: "token-permission" });
  });

  it("limits to the token's channels, and refuses a channel action that names none", () => {
    const a = actor("deployer", { channels: ["canary"] });
    expect(checkPermission(a, "channels.promote", "canary")).toBeNull();
    expect(checkPermission(a, "channels.promote", "beta")).toEqual({ reason: "token-channel", permission: "channels.promote", channel: "beta" });
    expect(checkPermission(a, "channels.rollback", "beta")).toMatchObject({ reason: "token-channel" });
    expect(checkPermission(a, "deployments.cancel", "beta")).toMatchObject({ reason: "token-channel" });
    expect(checkPermission(a, "channels.read", "beta")).toMatchObject({ reason: "token-channel" });
    // An optional channel left out is never a free pass.
    expect(checkPermission(a, "channels.promote")).toMatchObject({ reason: "token-no-channel" });
    expect(checkPermission(a, "deployments.cancel")).toMatchObject({ reason: "token-no-channel" });
    // Actions that are not about one channel stay open to it, reading channels too.
    expect(checkPermission(a, "builds.refresh")).toBeNull();
    expect(checkPermission(a, "channels.read")).toBeNull();
  });

  it("gives a token limited to channels no admin, so it cannot mint a wider token", () => {
    expect(checkPermission(actor("admin", { channels: ["canary"] }), "admin")).toMatchObject({ reason: "token-admin" });
    expect(checkPermission(actor("admin", { channels: ["canary"] }), "admin", "canary")).toMatchObject({ reason: "token-admin" });
    expect(checkPermission(actor("admin", { permissions: ["admin"] }), "admin")).toBeNull();
  });

  it("authorize throws FORBIDDEN naming the limit, with the reason in the details", () => {
    expect(() => authorize(actor("deployer", { channels: ["canary"] }), "channels.promote", "beta")).toThrow(
      expect.objectContaining({ code: "FORBIDDEN", details: { refusal: "token-channel", permission: "channels.promote", channel: "beta" } }),
    );
    expect(() => authorize(actor("deployer", { channels: ["canary"] }), "channels.promote", "beta")).toThrow(/limited to the channel canary; beta is not one of them/);
    expect(() => authorize(actor("viewer"), "hosts.refresh")).toThrow("ci (viewer) lacks the hosts.refresh permission.");
    expect(() => authorize(actor("deployer", { channels: ["canary"] }), "channels.promote", "canary")).not.toThrow();
  });
});
