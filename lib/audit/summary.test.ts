import { describe, expect, it } from "vitest";
import { AUDIT_PAYLOADS, type AuditAction, type AuditPayload } from "./log";
import { summarisedActions, summarizeEvent, summaryText, type DeploymentContext, type Segment } from "./summary";

const start: AuditPayload<"deployment.start"> = {
  deploymentId: 7,
  kind: "promote",
  channel: "canary",
  version: "4.81.0-1",
  fromVersion: "4.80.0-1",
  hosts: ["deploy03"],
  batches: 1,
  batchSize: 1,
  maxFailures: 0,
  reason: "weekly train",
  override: false,
  retryOf: null,
  salLine: "!log demo: Upgrading scap to 4.81.0-1 in beta cluster (canary)",
};

// One event per action: [actor, target, payload, sentence].
const CASES: { [A in AuditAction]?: [string, string | null, AuditPayload<A>, string] } = {
  "builds.refresh": ["system", "http://apt/ beta", { ok: true, changed: true, added: ["4.81.0-1", "4.82.0-1"] }, "system saw 2 new builds (4.81.0-1 and 4.82.0-1)"],
  "hosts.refresh": [
    "alice",
    null,
    { hosts: 3, ok: 2, notInstalled: 0, unreachable: 1, unknown: 0, changed: [{ host: "deploy03", from: "4.80.0-1", to: "4.81.0-1" }], durationMs: 900 },
    "alice probed 3 hosts: 2 ok, 1 unreachable; deploy03 4.80.0-1 → 4.81.0-1",
  ],
  "inventory.sync": ["system", null, { added: ["mw11", "mw12"], removed: ["old1"], updated: [], channels: ["beta"] }, "system synced the inventory with the config: added mw11 and mw12; removed old1"],
  "deployment.start": ["demo", "canary", start, "demo promoted 4.81.0-1 to canary: 1 host, succeeded (#7, from 4.80.0-1) — “weekly train”"],
  "deployment.finish": [
    "system",
    "canary",
    { deploymentId: 7, channel: "canary", version: "4.81.0-1", status: "succeeded", succeeded: 1, failed: 0, skipped: 0, cancelled: 0, durationMs: 42_000, notOnVersion: [] },
    "demo's promotion of 4.81.0-1 to canary (#7) ended succeeded: 1 succeeded in 42 s",
  ],
  "deployment.cancel": ["bob", "canary", { deploymentId: 7, channel: "canary", version: "4.81.0-1" }, "bob cancelled #7 (4.81.0-1 to canary)"],
  "deployment.interrupted": [
    "system",
    "beta",
    { deploymentId: 8, channel: "beta", version: "4.81.0-1", running: ["mw11", "mw12"] },
    "system found #8 (4.81.0-1 to beta) interrupted: its runner stopped while 2 hosts were installing (mw11 and mw12)",
  ],
  "channel.freeze": ["alice", "beta", { channel: "beta", reason: "all-hands week", until: "2026-12-08T09:00:00.000Z" }, "alice froze beta until 2026-12-08 09:00 UTC — “all-hands week”"],
  "channel.unfreeze": ["bob", "beta", { channel: "beta", frozenBy: "alice", reason: "all-hands week" }, "bob unfroze beta (frozen by alice: “all-hands week”)"],
  "channel.follow": ["alice", "canary", { channel: "canary", paused: true }, "alice paused following the newest build on canary"],
  "bake.passed": ["system", "canary", { channel: "canary", version: "4.81.0-1", deploymentId: 7, checks: 6, minutes: 30 }, "system: the bake of 4.81.0-1 on canary (#7) passed, 6 checks over 30 min"],
  "bake.failed": [
    "system",
    "canary",
    { channel: "canary", version: "4.81.0-1", deploymentId: 7, error: "health check failed", hosts: [{ host: "deploy03", ok: false, exitCode: 1, error: "exit 1" }], rollback: true },
    "system: the bake of 4.81.0-1 on canary (#7) failed: health check failed; failing: deploy03; rolling back",
  ],
  "user.add": ["cli:root", "bob", { role: "deployer" }, "cli:root saved user bob as deployer"],
  "user.disable": ["cli:root", "bob", {}, "cli:root disabled user bob"],
  "user.signin": ["alice", "alice", {}, "alice signed in"],
  "user.role": ["cli:root", "bob", { from: "viewer", to: "deployer" }, "cli:root changed the role of bob from viewer to deployer"],
  "auth.refused": [
    "v1",
    null,
    { method: "POST", route: "/api/channels/:name/promote", status: 403, code: "FORBIDDEN", reason: "token-channel", message: "not for beta", permission: "channels.promote", channel: "beta", count: 1 },
    "v1 was refused channels.promote on beta",
  ],
  "user.signin-failed": ["anonymous", null, { reason: "password", attemptedName: "bob", failures: 5, paused: true }, "anonymous failed to sign in as “bob”: wrong name or password (5 failures in this window); further attempts are paused"],
  "token.create": ["cli:root", "ci", { tokenName: "deploy bot", prefix: "sc_ab12" }, "cli:root created API token “deploy bot” (sc_ab12…) for ci"],
  "token.revoke": ["admin", "ci", { tokenName: "deploy bot", prefix: "sc_ab12" }, "admin revoked API token “deploy bot” (sc_ab12…) of ci"],
};

const context: DeploymentContext = new Map([[7, { kind: "promote", status: "succeeded", actorName: "demo", hosts: 1 }]]);
const links = (s: Segment[]) => s.filter((x): x is { text: string; href: string } => typeof x !== "string").map((x) => x.href);

describe("audit summaries", () => {
  it("has a summariser of its own, and a sentence here, for every action", () => {
    expect(summarisedActions().sort()).toEqual(Object.keys(AUDIT_PAYLOADS).sort());
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(AUDIT_PAYLOADS).sort());
  });

  for (const [action, [actor, target, payload, sentence]] of Object.entries(CASES) as [string, [string, string | null, unknown, string]][]) {
    it(`says ${action} in words`, () => {
      expect(AUDIT_PAYLOADS[action as AuditAction].safeParse(payload).success).toBe(true);
      expect(summaryText(summarizeEvent({ actor, action, target, payload }, context))).toBe(sentence);
    });
  }

  it("links deployments, builds, hosts and channels", () => {
    const s = summarizeEvent({ actor: "demo", action: "deployment.start", target: "canary", payload: { ...start, retryOf: 5, override: true } }, context);
    expect(links(s)).toEqual(["/builds#build-4.81.0-1", "/channels/canary", "/deployments/7", "/deployments/5"]);
    expect(summaryText(s)).toContain("past the channel's gate");
    expect(links(summarizeEvent({ actor: "a", action: "hosts.refresh", target: null, payload: CASES["hosts.refresh"]![2] }))).toEqual(["/hosts#host-deploy03"]);
  });

  it("says rollbacks, failed reads and joined refreshes in words", () => {
    const t = (action: string, payload: unknown, actor = "alice") => summaryText(summarizeEvent({ actor, action, target: null, payload }));
    expect(t("deployment.start", { ...start, kind: "rollback", version: "4.80.0-1", hosts: ["a", "b"] })).toMatch(/^alice rolled canary back to 4\.80\.0-1: 2 hosts \(#7/);
    expect(t("builds.refresh", { ok: false, errorKind: "bad-signature", error: "no valid signature" }, "system")).toBe("system could not read the repository (bad-signature): no valid signature");
    expect(t("builds.refresh", { ok: true, joined: true, added: ["4.82.0-1"] })).toBe("alice joined a repository read already running, which saw 1 new build (4.82.0-1)");
    expect(t("user.signin", { method: "oidc", role: "deployer", previousRole: "viewer" })).toBe("alice signed in through the identity provider as deployer (was viewer)");
    expect(t("user.signin-failed", { reason: "no-role", attemptedName: "carol", failures: 1 }, "anonymous")).toBe("anonymous failed to sign in as “carol”: in no group that maps to a role");
    expect(t("token.create", { tokenName: "ci", prefix: "sc_1", channels: ["canary"], permissions: ["channels.promote"], expiresAt: "2027-01-01T00:00:00.000Z" }, "root")).toBe(
      "root created API token “ci” (sc_1…) for ?, limited to channels canary; permissions channels.promote; until 2027-01-01",
    );
    expect(t("auth.refused", { method: "POST", route: "/api/builds/refresh", status: 401, code: "UNAUTHORIZED", reason: "token-revoked", message: "m", token: { prefix: "sc_9", state: "revoked" }, count: 10, capped: true }, "anonymous")).toBe(
      "anonymous was refused POST /api/builds/refresh: token-revoked (token sc_9… revoked) (10th time in this window); further refusals are only counted",
    );
    expect(t("hosts.refresh", { hosts: 1, ok: 1, notInstalled: 0, unreachable: 0, unknown: 0, changed: [], durationMs: 1, busy: [{ host: "h1", holder: "deployment 3" }] })).toBe(
      "alice probed 1 host: 1 ok; skipped 1 host a deployment held (h1)",
    );
  });

  it("says an action it does not know, or a payload that does not parse, in general words", () => {
    expect(summaryText(summarizeEvent({ actor: "v1", action: "access.denied", target: null, payload: { permission: "channels.promote", channel: "beta" } }))).toBe("v1 was refused channels.promote on beta");
    expect(summaryText(summarizeEvent({ actor: "x", action: "user.add", target: "bob", payload: "not json" }))).toBe("x: user.add on bob");
  });
});
