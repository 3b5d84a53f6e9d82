import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { DeploymentJson, DeploymentTargetView } from "../lib/deploy/deployment-types";
import { EXIT, HostProgress, type CliEnv, parseDeployArgs, runDeployCli, SseParser, summarize, UsageError, type SseEvent } from "./deploy-cli";

const TOKEN = "sct_test-token-that-must-never-be-printed";

describe("SseParser", () => {
  const parseAll = (chunks: (string | Uint8Array)[]): SseEvent[] => {
    const p = new SseParser();
    const events = chunks.flatMap((c) => p.push(c));
    return [...events, ...p.end()];
  };

  it("reads events, multi-line data, comments, ids and fields without a value", () => {
    const events = parseAll([": keepalive\n\nevent: state\ndata: {\"a\":1}\n\ndata:first\ndata:  second\nid: 7\n\ndata\n\nevent: end\n\n"]);
    expect(events).toEqual([
      { event: "state", data: '{"a":1}', id: null },
      { event: "message", data: "first\n second", id: "7" },
      { event: "message", data: "", id: "7" },
    ]);
  });

  it("accepts CRLF, CR and LF line ends and drops a leading BOM", () => {
    expect(parseAll(["\ufeffevent: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\revent: c\ndata: 3\n\n"]).map((e) => `${e.event}=${e.data}`)).toEqual(["a=1", "b=2", "c=3"]);
  });

  it("drops an event whose blank line never came", () => {
    expect(parseAll(["event: state\ndata: {}\n\nevent: state\ndata: {\"cut"])).toHaveLength(1);
  });

  it("gives the same events however the bytes are split: inside UTF-8 sequences, fields and CRLFs", () => {
    const text = `\ufeff: hi\r\nevent: state\r\ndata: {"host":"beta02","note":"4.80 → 4.81 é 🚀"}\r\n\r\nevent: state\ndata: line1\ndata: line2\n\n: keepalive\r\revent: end\rdata: {"status":"succeeded"}\r\r`;
    const bytes = new TextEncoder().encode(text);
    const whole = parseAll([bytes]);
    expect(whole.map((e) => e.event)).toEqual(["state", "state", "end"]);
    expect(whole[0]!.data).toContain("→ 4.81 é 🚀");
    for (let i = 0; i <= bytes.length; i++) {
      expect(parseAll([bytes.slice(0, i), bytes.slice(i)])).toEqual(whole);
    }
    // One byte at a time, and three-way splits around every CR.
    expect(parseAll([...bytes].map((b) => Uint8Array.of(b)))).toEqual(whole);
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 13) continue;
      expect(parseAll([bytes.slice(0, i), bytes.slice(i, i + 1), bytes.slice(i + 1)])).toEqual(whole);
    }
  });
});

describe("parseDeployArgs", () => {
  const env = { SCAP_CHANNELS_URL: "http://127.0.0.1:3000", SCAP_CHANNELS_TOKEN: TOKEN };
  const files: Record<string, string> = { "/run/token": `${TOKEN}\n`, "/run/empty": "\n", "/run/two": "a b\n" };
  const readText = (p: string) => {
    if (p in files) return files[p]!;
    throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
  };
  const parse = (args: string, e: CliEnv = env) => parseDeployArgs(args.split(" ").filter(Boolean), e, readText);
  const refused = (args: string, e: CliEnv = env) => {
    try {
      parse(args, e);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).not.toContain(TOKEN);
      return (err as Error).message;
    }
    throw new Error(`accepted: ${args}`);
  };

  it("reads promote, rollback and wait with the URL and token from flags or the environment", () => {
    expect(parse("promote canary 4.81.0-1 --reason ci --wait --url https://sc.example.org/base --token-file /run/token --timeout 90", {})).toMatchObject({
      kind: "promote",
      channel: "canary",
      version: "4.81.0-1",
      reason: "ci",
      wait: true,
      override: false,
      connection: { token: TOKEN, timeoutMs: 90_000 },
    });
    const p = parse("promote canary 1:4.81.0-1+git2a --reason=why --override");
    expect(p).toMatchObject({ kind: "promote", version: "1:4.81.0-1+git2a", override: true, wait: false, connection: { token: TOKEN, timeoutMs: 3_600_000 } });
    expect(p.kind === "promote" && p.connection.url.href).toBe("http://127.0.0.1:3000/");
    expect(parse("rollback beta --reason r")).toMatchObject({ kind: "rollback", channel: "beta", version: null });
    expect(parse("rollback beta 4.80.0-1 --reason r --wait")).toMatchObject({ kind: "rollback", version: "4.80.0-1", wait: true });
    expect(parse("wait 42 --timeout 5")).toMatchObject({ kind: "wait", id: 42, connection: { timeoutMs: 5000 } });
    expect(parse("promote --help")).toEqual({ kind: "help" });
  });

  it("refuses unknown, repeated and misplaced flags, and bad values, with a message", () => {
    expect(refused("promote canary 4.81.0-1 --reason r --force")).toMatch(/Unknown option '--force'/);
    expect(refused("promote canary 4.81.0-1 --reason a --reason b")).toBe("--reason is given twice");
    expect(refused("promote canary 4.81.0-1")).toMatch(/--reason R is required/);
    expect(refused("promote canary 4.81.0-1 --reason")).toMatch(/argument missing/);
    expect(refused("promote canary --reason r")).toMatch(/needs a CHANNEL and a VERSION/);
    expect(refused("promote canary 4.81.0-1 extra --reason r")).toBe("unexpected argument extra");
    expect(refused("promote Canary 4.81.0-1 --reason r")).toMatch(/CHANNEL is a channel name/);
    expect(refused("promote canary 4.81;id --reason r")).toMatch(/VERSION is a Debian version/);
    expect(refused("promote canary 4.81.0-1 --reason r --timeout 10")).toBe("--timeout applies to --wait only");
    expect(refused("promote canary 4.81.0-1 --reason r --wait --timeout 0")).toMatch(/--timeout is between/);
    expect(refused("promote canary 4.81.0-1 --reason r --wait --timeout soon")).toMatch(/--timeout is a number/);
    expect(refused("promote canary 4.81.0-1 --reason r --wait=yes")).toMatch(/does not take an argument/);
    expect(refused("wait 42 --reason r")).toBe("wait takes no --reason");
    expect(refused("wait 42 --wait")).toBe("wait takes no --wait");
    expect(refused("wait 0")).toMatch(/ID is a deployment id/);
    expect(refused("wait 4 2")).toBe("wait takes one deployment ID");
  });

  it("says where the URL and token come from when they are missing or unusable, never echoing the token", () => {
    expect(refused("wait 1", {})).toMatch(/no server given: pass --url URL or set SCAP_CHANNELS_URL/);
    expect(refused("wait 1", { SCAP_CHANNELS_URL: "http://x" })).toMatch(/no token given: pass --token-file FILE or set SCAP_CHANNELS_TOKEN/);
    expect(refused("wait 1 --token-file /run/missing")).toBe("cannot read --token-file /run/missing: ENOENT");
    expect(refused("wait 1 --token-file /run/empty")).toBe("--token-file /run/empty is empty");
    expect(refused("wait 1 --token-file /run/two")).toMatch(/one word of printable ASCII/);
    expect(refused("wait 1 --url ftp://x")).toMatch(/http:\/\/ or https:\/\//);
    expect(refused(`wait 1 --url https://ci:${TOKEN}@sc.example.org`)).toMatch(/must not carry a user or password/);
    expect(refused("wait 1 --url not-a-url")).toMatch(/--url is not a URL/);
  });
});

function target(host: string, over: Partial<DeploymentTargetView> = {}): DeploymentTargetView {
  return { host, batch: 0, fromVersion: "4.80.0-1", toVersion: "4.81.0-1", status: "pending", exitCode: null, output: "", errorKind: null, error: null, reportedVersion: null, startedAt: null, finishedAt: null, ...over };
}

function deployment(status: string, targets: DeploymentTargetView[], over: Partial<DeploymentJson> = {}): DeploymentJson {
  const count = (s: string) => targets.filter((t) => t.status === s).length;
  return {
    id: 42,
    kind: "promote",
    channel: "canary",
    version: "4.81.0-1",
    fromVersion: "4.80.0-1",
    status,
    reason: "ci",
    actor: "ci",
    source: "api",
    override: false,
    retryOf: null,
    salLine: "!log ci: Upgrading scap to 4.81.0-1 in beta cluster (canary): ci",
    error: null,
    cancelledBy: null,
    cancelRequested: false,
    createdAt: "2026-12-01T10:00:00.000Z",
    startedAt: "2026-12-01T10:00:00.000Z",
    finishedAt: null,
    notifications: [],
    batchSize: 1,
    maxFailures: 0,
    counts: {
      total: targets.length,
      pending: count("pending"),
      running: count("running"),
      succeeded: count("succeeded"),
      failed: count("failed"),
      skipped: count("skipped"),
      cancelled: count("cancelled"),
      interrupted: count("interrupted"),
    },
    targets,
    ...over,
  };
}

describe("HostProgress", () => {
  it("prints one line per host state change, aligned, with version, duration and the failure", () => {
    const p = new HostProgress();
    const t0 = "2026-12-01T10:00:00.000Z";
    expect(p.update(deployment("running", [target("beta02"), target("beta1")]))).toEqual([]);
    expect(p.update(deployment("running", [target("beta02", { status: "running", startedAt: t0 }), target("beta1")]))).toEqual(["beta02  running  4.80.0-1 → 4.81.0-1"]);
    expect(p.update(deployment("running", [target("beta02", { status: "running", startedAt: t0 }), target("beta1")]))).toEqual([]);
    const done = [
      target("beta02", { status: "succeeded", startedAt: t0, finishedAt: "2026-12-01T10:00:02.100Z", reportedVersion: "4.81.0-1" }),
      target("beta1", { status: "failed", startedAt: t0, finishedAt: "2026-12-01T10:00:01.000Z", errorKind: "install", error: "exit 100:\nE: broken", exitCode: 100, output: "Reading...\nE: broken\n" }),
    ];
    expect(p.update(deployment("partial", done))).toEqual([
      "beta02  succeeded  4.81.0-1 (2.1 s)",
      "beta1   failed  install: exit 100: E: broken (1.0 s)",
      "    | Reading...",
      "    | E: broken",
    ]);
    expect(summarize(deployment("partial", done, { finishedAt: "2026-12-01T10:00:03.000Z" }))).toBe("partial: deployment 42, 1 succeeded, 1 failed of 2 host(s) in 3.0 s");
  });

  it("prints the hosts of a deployment that had already ended when it was first seen", () => {
    const lines = new HostProgress().update(deployment("failed", [target("b1", { status: "failed", errorKind: "unreachable", error: "connect ECONNREFUSED" }), target("b2", { status: "skipped", error: "not started" })]));
    expect(lines).toEqual(["b1  failed  unreachable: connect ECONNREFUSED", "b2  skipped  not started"]);
  });
});

// A stand-in for the app's JSON API on loopback: real HTTP and a real event stream, scripted replies.
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
let server: Server | null = null;
const seenAuth: string[] = [];

async function fakeApi(handler: Handler): Promise<string> {
  server = createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? "");
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => handler(req, res, body));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = null;
  seenAuth.length = 0;
});

function sse(res: ServerResponse) {
  res.writeHead(200, { "content-type": "text/event-stream" });
  return (d: DeploymentJson) => res.write(`event: state\ndata: ${JSON.stringify(d)}\n\n`);
}

async function run(args: string[], url: string) {
  const out: string[] = [];
  const err: string[] = [];
  const started = Date.now();
  const code = await runDeployCli(args, { SCAP_CHANNELS_URL: url, SCAP_CHANNELS_TOKEN: TOKEN }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  const all = [...out, ...err].join("\n");
  expect(all).not.toContain(TOKEN);
  return { code, out, err, ms: Date.now() - started };
}

describe("runDeployCli against a stand-in API", () => {
  const pending = deployment("running", [target("beta01")]);
  const running = deployment("running", [target("beta01", { status: "running", startedAt: "2026-12-01T10:00:00.000Z" })]);
  const succeeded = deployment("succeeded", [target("beta01", { status: "succeeded", reportedVersion: "4.81.0-1", startedAt: "2026-12-01T10:00:00.000Z", finishedAt: "2026-12-01T10:00:04.810Z" })], {
    finishedAt: "2026-12-01T10:00:05.000Z",
  });

  it("promotes, follows the stream to the end and exits 0, sending the token only as a bearer header", async () => {
    let posted: unknown = null;
    const url = await fakeApi((req, res, body) => {
      if (req.method === "POST" && req.url === "/api/channels/canary/promote") {
        posted = JSON.parse(body);
        res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ deployment: pending, salLine: pending.salLine, warnings: ["w1"] }));
      } else if (req.url === "/api/deployments/42/events") {
        const send = sse(res);
        send(pending);
        setTimeout(() => send(running), 20);
        // The server keeps the stream open a while after the end (webhooks); the CLI must not wait for it.
        setTimeout(() => send(succeeded), 40);
      } else res.writeHead(404).end();
    });
    const r = await run(["promote", "canary", "4.81.0-1", "--reason", "ci", "--wait"], url);
    expect(r.code).toBe(EXIT.SUCCEEDED);
    expect(posted).toEqual({ version: "4.81.0-1", reason: "ci" });
    expect(new Set(seenAuth)).toEqual(new Set([`Bearer ${TOKEN}`]));
    expect(r.out).toEqual([
      `deployment 42: promote 4.81.0-1 to canary (from 4.80.0-1), 1 host(s) — ${url}/deployments/42`,
      pending.salLine,
      "warning: w1",
      "beta01  running  4.80.0-1 → 4.81.0-1",
      "beta01  succeeded  4.81.0-1 (4.8 s)",
      "succeeded: deployment 42, 1 succeeded of 1 host(s) in 5.0 s",
      pending.salLine,
    ]);
  });

  it("without --wait prints the id and the !log line once accepted", async () => {
    const url = await fakeApi((req, res) => res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ deployment: pending, salLine: pending.salLine, warnings: [] })));
    const r = await run(["rollback", "canary", "--reason", "back", "--override"], url);
    expect(r.code).toBe(EXIT.SUCCEEDED);
    expect(r.out[0]).toMatch(/^deployment 42: /);
    expect(r.out[1]).toBe(pending.salLine);
  });

  it("says the deployment started when only following it is refused", async () => {
    const url = await fakeApi((req, res) => {
      if (req.method === "POST") res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ deployment: pending, salLine: pending.salLine }));
      else res.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "FORBIDDEN", message: "This token lacks the deployments.read permission." } }));
    });
    const r = await run(["promote", "canary", "4.81.0-1", "--reason", "ci", "--wait"], url);
    expect(r.code).toBe(EXIT.REFUSED);
    expect(r.err).toEqual(["deployment 42 started, but following it was refused (403 FORBIDDEN): This token lacks the deployments.read permission. (--wait needs a token with deployments.read)"]);
  });

  it("reconnects when the stream drops, polls in between, and exits 1 on a failed deployment", async () => {
    let connections = 0;
    const failed = deployment("failed", [target("beta01", { status: "failed", errorKind: "unreachable", error: "connect ECONNREFUSED 127.0.2.1:22" })]);
    const url = await fakeApi((req, res) => {
      if (req.url === "/api/deployments/42/events") {
        connections++;
        const send = sse(res);
        send(running);
        // First connection: cut mid-event. Second: the end.
        if (connections === 1) setTimeout(() => res.socket?.destroy(), 20);
        else send(failed);
      } else if (req.url === "/api/deployments/42") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(running));
      else res.writeHead(404).end();
    });
    const r = await run(["wait", "42"], url);
    expect(r.code).toBe(EXIT.NOT_SUCCEEDED);
    expect(connections).toBe(2);
    expect(r.err.join("\n")).toMatch(/event stream of deployment 42 lost.*reconnecting/);
    expect(r.out).toContain("beta01  failed  unreachable: connect ECONNREFUSED 127.0.2.1:22");
    expect(r.out.filter((l) => l.includes("running"))).toHaveLength(1);
    expect(r.out.at(-2)).toBe("failed: deployment 42, 0 succeeded, 1 failed of 1 host(s)");
  });

  it("exits 1 at --timeout while the stream only sends keepalives", async () => {
    const url = await fakeApi((req, res) => {
      const send = sse(res);
      send(running);
      const t = setInterval(() => res.write(": keepalive\n\n"), 100);
      res.on("close", () => clearInterval(t));
    });
    const r = await run(["wait", "42", "--timeout", "1"], url);
    expect(r.code).toBe(EXIT.NOT_SUCCEEDED);
    expect(r.err.join("\n")).toMatch(/timed out after 1 s waiting for deployment 42; it goes on on the server \(npm run cli -- wait 42\)/);
    expect(r.ms).toBeLessThan(5000);
  });

  it("exits 2 with the server's message on a refusal, 3 on a server failure or no server", async () => {
    let status = 409;
    const url = await fakeApi((req, res) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: status === 409 ? "CONFLICT" : "INTERNAL", message: "Deployment 7 is running on beta01." } })),
    );
    const refused = await run(["promote", "canary", "4.81.0-1", "--reason", "ci", "--wait"], url);
    expect(refused.code).toBe(EXIT.REFUSED);
    expect(refused.err).toEqual(["refused (409 CONFLICT): Deployment 7 is running on beta01."]);
    status = 500;
    const failing = await run(["wait", "42"], url);
    expect(failing.code).toBe(EXIT.TRANSPORT);
    expect(failing.err[0]).toMatch(/the server failed \(500 INTERNAL\)/);
    // A port nothing listens on any more.
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, "127.0.0.1", r));
    const port = (spare.address() as AddressInfo).port;
    await new Promise((r) => spare.close(r));
    const down = await run(["promote", "canary", "4.81.0-1", "--reason", "ci"], `http://127.0.0.1:${port}`);
    expect(down.code).toBe(EXIT.TRANSPORT);
    expect(down.err[0]).toMatch(/cannot be reached: connect ECONNREFUSED/);
  });
});
