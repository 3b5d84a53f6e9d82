// 6. Hostile input on every API route and form: each answered 4xx with a message, nothing changed,
// no marker file ever appears on a host or here.
import { existsSync, readdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import path from "node:path";
import { check, count, withDb, type App } from "../harness";
import type { Scenario } from "../index";
import type { Suite } from "../suite";

const MARK = "/tmp/scap-faults-marker";

/** Values that would run a command if they ever reached a shell unquoted. */
const SHELLY = [
  `$(touch ${MARK}-1)`,
  `\`touch ${MARK}-2\``,
  `1.0; touch ${MARK}-3`,
  `1.0 && touch ${MARK}-4`,
  `1.0 | touch ${MARK}-5`,
  `1.0\ntouch ${MARK}-6`,
  `1.0'; touch ${MARK}-7; echo '`,
  `1.0\u0000; touch ${MARK}-8`,
  `--version=$(touch ${MARK}-9)`,
  "../../../../etc/passwd",
];

interface Probe {
  route: string;
  method: string;
  body?: string | Buffer;
  contentType?: string;
}

function bodies(): { label: string; body: string | Buffer }[] {
  const big = (n: number) => JSON.stringify({ version: "1.0", reason: "x".repeat(n) });
  return [
    { label: "invalid JSON", body: "{" },
    { label: "non-UTF-8 bytes", body: Buffer.from([0x7b, 0x22, 0x76, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x80, 0x22, 0x7d]) },
    { label: "1 MB JSON", body: big(1024 * 1024) },
    { label: "10 MB JSON", body: big(10 * 1024 * 1024) },
    { label: "wrong types", body: JSON.stringify({ version: 12, reason: ["a"], override: "yes", batchSize: {}, force: "1" }) },
    { label: "unknown fields", body: JSON.stringify({ version: "1.0", reason: "ok", admin: true, __proto__: { admin: true }, constructor: 1 }) },
    { label: "array", body: "[1,2,3]" },
    { label: "huge number", body: JSON.stringify({ version: "1.0", reason: "ok", until: 1e308 }) + "" },
    ...SHELLY.map((v, i) => ({ label: `shell metacharacters #${i + 1}`, body: JSON.stringify({ version: v, reason: v, name: v, role: v, label: v, channels: [v], permissions: [v], until: v }) })),
    { label: "newline and NUL in the reason", body: JSON.stringify({ version: "4.81.0-1+0~20261124120000.7~1.gbpdef456", reason: "line one\nline two\u0000" }) },
  ];
}

const MUTATIONS = [
  "/api/channels/canary/plan",
  "/api/channels/canary/promote",
  "/api/channels/beta/rollback",
  "/api/channels/canary/freeze",
  "/api/channels/canary/follow",
  "/api/deployments/1/cancel",
  "/api/deployments/1/retry",
  "/api/tokens",
  "/api/users/faults-viewer/role",
  "/api/builds/refresh",
  "/api/hosts/refresh",
];

const PATH_TRICKS = [
  "/api/deployments/..%2F..%2F..%2Fetc%2Fpasswd",
  "/api/deployments/1e400",
  "/api/deployments/99999999999999999999999999",
  "/api/deployments/-1",
  "/api/deployments/0x10",
  "/api/deployments/1%00",
  "/api/deployments/%24(touch%20%2Ftmp%2Fscap-faults-marker-p)",
  "/api/channels/..%2Fbeta/promote",
  "/api/channels/%3Bid/promote",
  "/api/channels/CANARY/promote",
  "/api/tokens/99999999999999999999/revoke",
  "/api/users/..%2Ffaults-admin/disable",
];

const QUERY_TRICKS = [
  "/api/audit?cursor=99999999999999999999999",
  "/api/audit?cursor=..%2F..%2F",
  "/api/audit?cursor=%00",
  "/api/audit?limit=1e9",
  "/api/audit?limit=-5",
  "/api/audit?to=not-a-date",
  "/api/audit?from=99999-99-99",
  "/api/deployments?cursor=1e400",
  "/api/deployments?limit=999999",
  "/api/deployments?status=%27%3B%20DROP%20TABLE%20Deployment%3B--",
  "/api/deployments?channel=..%2F..",
];

function markers(suite: Suite): string[] {
  const found: string[] = [];
  for (const f of readdirSync("/tmp")) if (f.startsWith("scap-faults-marker")) found.push(`/tmp/${f}`);
  for (const h of suite.sb.hosts) {
    const tmp = path.join(h.root, "tmp");
    if (existsSync(tmp)) for (const f of readdirSync(tmp)) if (f.startsWith("scap-faults-marker")) found.push(path.join(tmp, f));
  }
  return found;
}

function snapshot(app: App): string {
  return withDb(app, (db) =>
    JSON.stringify({
      deployments: db.prepare("SELECT count(*) AS n FROM Deployment").get(),
      tokens: db.prepare("SELECT count(*) AS n, count(revokedAt) AS r FROM ApiToken").get(),
      users: db.prepare("SELECT name, role, disabledAt FROM User ORDER BY name").all(),
      channels: db.prepare("SELECT name, frozenAt, followPausedAt FROM Channel ORDER BY name").all(),
      builds: db.prepare("SELECT count(*) AS n FROM Build").get(),
    }),
  );
}

/** A raw request: fetch cannot send every header (Host) or a lying Content-Length. */
function raw(app: App, method: string, route: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: app.port, method, path: route, headers }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const hostileInput: Scenario = {
  id: "6a",
  title: "hostile bodies, paths, queries and headers on every API route and the sign-in form",
  async run(suite) {
    const { app, tokens } = suite;
    const before = snapshot(app);
    const probes: Probe[] = [];
    for (const route of MUTATIONS) for (const b of bodies()) probes.push({ route, method: "POST", body: b.body });
    for (const route of PATH_TRICKS) probes.push({ route, method: route.endsWith("promote") || route.endsWith("revoke") || route.endsWith("disable") ? "POST" : "GET", body: "{}" });
    for (const route of QUERY_TRICKS) probes.push({ route, method: "GET" });
    let answered = 0;
    const bad: string[] = [];
    for (const p of probes) {
      let res;
      try {
        res = await app.request(p.method, p.route, { token: tokens.admin, raw: p.method === "GET" ? undefined : p.body, headers: { "content-type": p.contentType ?? "application/json" }, keepAnswer: false });
      } catch (e) {
        // A server may close a connection that sends 10 MB it refused early; that is an answer too.
        if (p.body && p.body.length > 1_000_000) continue;
        bad.push(`${p.method} ${p.route}: ${(e as Error).message}`);
        continue;
      }
      answered++;
      const message = res.json?.error?.message;
      if (res.status < 400 || res.status >= 500) bad.push(`${p.method} ${p.route} (${String(p.body ?? "").slice(0, 40)}…) answered ${res.status}`);
      else if (typeof message !== "string" || message.length < 5) bad.push(`${p.method} ${p.route} answered ${res.status} without a message: ${res.text.slice(0, 80)}`);
    }
    check(bad.length === 0, `${bad.length} of ${probes.length} hostile requests were not refused cleanly: ${bad.slice(0, 6).join("; ")}`);

    // Header tricks: a spoofed X-Forwarded-For does not change who the sign-in throttle counts.
    const csrf = await fetch(`${app.url}/api/auth/csrf`);
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const jar = csrf.headers.getSetCookie().map((c) => c.split(";")[0]!).join("; ");
    for (let i = 0; i < 6; i++) {
      await fetch(`${app.url}/api/auth/callback/credentials`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: jar, origin: app.url, "x-forwarded-for": `203.0.113.${i + 1}`, "x-real-ip": `198.51.100.${i + 1}` },
        body: new URLSearchParams({ csrfToken, username: `$(touch ${MARK}-signin)\n`, password: "wrong-password-\u0000", json: "true" }),
      });
    }
    const addresses = withDb(app, (db) => (db.prepare("SELECT DISTINCT address FROM SignInFailure").all() as { address: string }[]).map((r) => r.address));
    check(addresses.every((a) => a === "127.0.0.1" || a === "::ffff:127.0.0.1"), `the sign-in throttle counted spoofed addresses: ${addresses.join(", ")}`);
    // A cross-site POST with a forged Host header and the admin's session is refused.
    const cookie = await app.signIn("faults-admin", "faults-admin-password-1");
    const forged = await raw(app, "POST", "/api/channels/canary/freeze", { host: "evil.example", origin: "http://evil.example", cookie, "content-type": "application/json" }, JSON.stringify({ reason: "forged host" }));
    check(forged.status === 403, `a cross-site POST with a forged Host answered ${forged.status}: ${forged.text.slice(0, 200)}`);
    const lying = await raw(app, "POST", "/api/channels/canary/freeze", { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json", "content-length": "99999999" }, "{}").catch((e: Error) => ({ status: 0, text: e.message }));
    check(lying.status === 413 || lying.status === 0, `a Content-Length of 99999999 answered ${lying.status}`);

    const after = snapshot(app);
    check(after === before, `hostile input changed the database: before ${before}, after ${after}`);
    const found = markers(suite);
    check(found.length === 0, `marker files appeared: ${found.join(", ")}`);
    check(count(app, "SELECT count(*) AS n FROM AuditEvent WHERE action = 'auth.refused'") > 0, "no refusal was audited");
    return [`${probes.length} hostile requests on ${MUTATIONS.length + PATH_TRICKS.length + QUERY_TRICKS.length} routes: all 4xx with a message (${answered} answered, the rest closed for 10 MB)`, "spoofed X-Forwarded-For ignored; forged Host refused 403", "database unchanged; no marker file"];
  },
};

export const HOSTILE: Scenario[] = [hostileInput];
