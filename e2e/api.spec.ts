import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { load } from "./sandbox";
import { SANDBOX_DIR, TOKENS_FILE } from "./fixtures/env";

const tokens = () => JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as Record<"admin" | "deployer" | "viewer", string>;
const bearer = (who: "admin" | "deployer" | "viewer") => ({ authorization: `Bearer ${tokens()[who]}` });

test("CI-style API use with tokens: read builds, channels and hosts; refresh needs the permission", async ({ request }) => {
  const sandbox = await load(SANDBOX_DIR);

  const refreshed = await request.post("/api/builds/refresh", { headers: bearer("deployer") });
  expect(refreshed.status()).toBe(200);
  expect((await refreshed.json()).outcome.ok).toBe(true);

  const builds = await (await request.get("/api/builds", { headers: bearer("viewer") })).json();
  expect(builds.repository.signerKey).toMatch(/^[0-9A-F]{40}$/);
  expect(builds.builds.map((b: { version: string }) => b.version)).toEqual([...sandbox.versions].reverse());
  for (const b of builds.builds) {
    expect(b).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), inIndex: true, size: expect.any(Number) });
  }

  const channels = await (await request.get("/api/channels", { headers: bearer("viewer") })).json();
  expect(channels.channels.map((c: { name: string }) => c.name)).toEqual(["canary", "beta"]);
  expect(channels.channels[1].hosts).toHaveLength(sandbox.hosts.length);

  const denied = await request.post("/api/hosts/refresh", { headers: bearer("viewer") });
  expect(denied.status()).toBe(403);
  expect(await denied.json()).toEqual({ error: { code: "FORBIDDEN", message: "Your role (viewer) lacks the hosts.refresh permission." } });

  const hosts = await request.post("/api/hosts/refresh", { headers: bearer("deployer") });
  expect(hosts.status()).toBe(200);
  const body = await hosts.json();
  expect(body.hosts).toHaveLength(sandbox.hosts.length);
  expect(body.hosts.every((h: { status: string; observedAt: string }) => h.status === "ok" && h.observedAt)).toBe(true);

  const audit = await (await request.get("/api/audit?action=hosts.refresh&limit=1", { headers: bearer("admin") })).json();
  expect(audit.events[0]).toMatchObject({ actor: "e2e-deployer", source: "api", action: "hosts.refresh" });
  expect(JSON.stringify(audit)).not.toContain(tokens().deployer);
});

test("bad input is refused with a clear error and changes nothing", async ({ request }) => {
  const notJson = await request.post("/api/builds/refresh", { headers: { ...bearer("deployer"), "content-type": "application/json" }, data: Buffer.from("{nope") });
  expect(notJson.status()).toBe(400);
  expect((await notJson.json()).error.message).toBe("The request body must be JSON.");
  const unknownKey = await request.post("/api/builds/refresh", { headers: bearer("deployer"), data: { force: true, "$(touch /tmp/x)": 1 } });
  expect(unknownKey.status()).toBe(400);
  const badLimit = await request.get("/api/audit?limit=100000", { headers: bearer("admin") });
  expect(badLimit.status()).toBe(400);
});
