// Webhooks during a real deployment on sandbox hosts: a receiver that works, one that answers 500,
// one that never answers and one that is down. None of them may hold up the deployment.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installedVersion } from "../../e2e/sandbox";
import { refreshBuilds } from "../apt/refresh";
import type { Actor } from "../audit/log";
import { webhookSchema, type AppConfig } from "../config-schema";
import { getDb } from "../db";
import { getDeployment } from "../deploy/queries";
import { promoteBuild } from "../deploy/promote";
import { waitForRunner } from "../deploy/run";
import { syncInventory } from "../fleet/inventory";
import { probeHosts } from "../fleet/probe";
import { closeFleetTransport } from "../fleet/ssh";
import { startSandbox, type FleetSandbox } from "../fleet/testing";
import { useTestDatabase } from "../testing/db";
import { deliverPending, SIGNATURE_HEADER, signBody } from "./webhooks";

const DEPLOYER: Actor = { id: null, name: "dana", source: "api", role: "deployer" };
const SECRET = "hook-secret-for-tests";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

function receiver(answer: (req: IncomingMessage, res: import("node:http").ServerResponse) => void): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      answer(req, res);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=hidden`, got })));
}

let fx: FleetSandbox;
let config: AppConfig;
let ok: Awaited<ReturnType<typeof receiver>>;
let failing: Awaited<ReturnType<typeof receiver>>;
let hanging: Awaited<ReturnType<typeof receiver>>;
let downUrl: string;

beforeAll(async () => {
  useTestDatabase();
  process.env.TEST_HOOK_SECRET = SECRET;
  fx = await startSandbox(2);
  ok = await receiver((_req, res) => res.writeHead(204).end());
  failing = await receiver((_req, res) => res.writeHead(500).end("broken"));
  hanging = await receiver(() => {});
  const closed = await receiver(() => {});
  downUrl = closed.url;
  await new Promise((r) => closed.server.close(r));
  const hook = (over: Record<string, unknown>) => webhookSchema.parse(over);
  config = {
    ...fx.config,
    notifications: {
      webhooks: [
        hook({ url: ok.url, secretEnv: "TEST_HOOK_SECRET" }),
        hook({ url: failing.url, retries: 2, retryDelaySeconds: 0.1 }),
        hook({ url: hanging.url, timeoutSeconds: 8, retries: 0 }),
        hook({ url: downUrl, events: ["deployment.finish"], retries: 1, retryDelaySeconds: 0.1 }),
      ],
    },
  };
  await syncInventory(config);
  await refreshBuilds(config.repository, DEPLOYER);
  await probeHosts(config, DEPLOYER);
});

afterAll(async () => {
  for (const r of [ok, failing, hanging]) {
    r?.server.closeAllConnections();
    r?.server.close();
  }
  await closeFleetTransport();
  await fx?.stop();
});

async function settled(deploymentId: number, c: AppConfig = config, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await deliverPending(c);
    const rows = await getDb().webhookDelivery.findMany({ where: { deploymentId }, orderBy: { id: "asc" } });
    if (rows.every((r) => r.status === "delivered" || r.status === "failed")) return rows;
    if (Date.now() > deadline) throw new Error(`deliveries still open: ${JSON.stringify(rows.map((r) => [r.url, r.status]))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("webhooks", () => {
  it("a receiver that is down, hangs or fails never holds up the deployment; each outcome is recorded", async () => {
    const version = fx.sb.versions[2]!;
    const started = await promoteBuild(config, DEPLOYER, "canary", { version, reason: "with webhooks" });
    await waitForRunner(started.id);
    const d = (await getDeployment(started.id))!;
    expect(d.status).toBe("succeeded");
    expect(await installedVersion(fx.sb, fx.sb.hosts[0]!.name)).toBe(version);
    // The deployment ended while the hanging receiver still held its start message (8 s: room for a loaded machine).
    const hangingStart = await getDb().webhookDelivery.findFirstOrThrow({ where: { deploymentId: started.id, url: hanging.url, event: "deployment.start" } });
    expect(hangingStart.status === "sending" || hangingStart.status === "pending").toBe(true);

    const rows = await settled(started.id);
    const of = (url: string, event: string) => rows.find((r) => r.url === url && r.event === event)!;
    expect(of(ok.url, "deployment.start")).toMatchObject({ status: "delivered", attempts: 1, lastStatus: 204 });
    expect(of(ok.url, "deployment.finish")).toMatchObject({ status: "delivered", attempts: 1 });
    expect(of(failing.url, "deployment.finish")).toMatchObject({ status: "failed", attempts: 3, lastStatus: 500, lastError: "the receiver answered 500" });
    expect(of(hanging.url, "deployment.start")).toMatchObject({ status: "failed", attempts: 1, lastError: "no answer within 8s" });
    expect(of(downUrl, "deployment.finish")).toMatchObject({ status: "failed", attempts: 2, lastError: expect.stringMatching(/ECONNREFUSED/) });
    expect(rows.filter((r) => r.url === downUrl)).toHaveLength(1);
    expect(failing.got).toHaveLength(6);

    // What the working receiver got: signed, with the !log text, channel, version, actor, result, link.
    const finish = ok.got.find((g) => g.headers["x-scap-channels-event"] === "deployment.finish")!;
    expect(finish.headers[SIGNATURE_HEADER]).toBe(signBody(SECRET, finish.body));
    expect(JSON.parse(finish.body)).toMatchObject({
      event: "deployment.finish",
      text: expect.stringContaining(`of ${version} on canary succeeded: 1/1 hosts`),
      deployment: { id: started.id, channel: "canary", version, status: "succeeded", actor: "dana", salLine: started.salLine, hosts: { total: 1, succeeded: 1, failed: 0 } },
    });
    const start = ok.got.find((g) => g.headers["x-scap-channels-event"] === "deployment.start")!;
    expect(JSON.parse(start.body)).toMatchObject({ text: started.salLine });
    // An unsigned receiver gets no signature header.
    expect(failing.got[0]!.headers[SIGNATURE_HEADER]).toBeUndefined();

    // Visible with the deployment, without the URL's query (a token may hide there).
    const view = (await getDeployment(started.id))!.notifications;
    expect(view).toHaveLength(rows.length);
    expect(view.every((n) => !n.url.includes("token=hidden"))).toBe(true);
  });

  it("a secret that is not in the environment fails the delivery with a message naming the variable, not a value", async () => {
    delete process.env.TEST_HOOK_SECRET;
    try {
      const c: AppConfig = { ...config, notifications: { webhooks: [{ ...config.notifications.webhooks[0]!, retries: 0 }] } };
      const started = await promoteBuild(c, DEPLOYER, "canary", { version: fx.sb.versions[1]!, reason: "no secret" });
      await waitForRunner(started.id);
      expect((await getDeployment(started.id))!.status).toBe("succeeded");
      const rows = await settled(started.id, c);
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r).toMatchObject({ status: "failed", lastError: "the environment variable TEST_HOOK_SECRET that holds this webhook's secret is not set" });
    } finally {
      process.env.TEST_HOOK_SECRET = SECRET;
    }
  });
});
