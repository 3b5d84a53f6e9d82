// 7. Every mutating route refuses (and audits) a caller without the right; a host presenting
// another host key is refused with the reason; no secret ever leaves the server.
import { readFileSync } from "node:fs";
import { changeHostKey, restoreHostKey } from "../../e2e/sandbox";
import { check, count, waitFinished, withDb, USERS, SECRETS, type App } from "../harness";
import type { Scenario } from "../index";
import type { Suite } from "../suite";
import { otherVersion } from "./crash";

const routes = (beta: number): { route: string; body: unknown }[] => [
  { route: "/api/channels/beta/promote", body: { version: "4.81.0-1+0~20261124120000.7~1.gbpdef456", reason: "refused" } },
  { route: "/api/channels/beta/rollback", body: { reason: "refused" } },
  { route: "/api/channels/beta/freeze", body: { reason: "refused" } },
  { route: "/api/channels/beta/unfreeze", body: {} },
  { route: "/api/channels/beta/follow", body: { paused: true } },
  { route: `/api/deployments/${beta}/cancel`, body: {} },
  { route: `/api/deployments/${beta}/retry`, body: { reason: "refused" } },
  { route: "/api/builds/refresh", body: {} },
  { route: "/api/hosts/refresh", body: {} },
  { route: "/api/tokens", body: { user: USERS.viewer.name, name: "refused" } },
  { route: "/api/tokens/1/revoke", body: {} },
  { route: "/api/users/faults-viewer/role", body: { role: "admin" } },
  { route: "/api/users/faults-viewer/disable", body: {} },
  { route: "/api/audit/verify", body: {} },
];

// Routes a canary-only deployer token could use on canary but not on beta.
const betaOnly = (route: string) => /^\/api\/channels\/beta\/(promote|rollback)$|^\/api\/deployments\/\d+\/(cancel|retry)$/.test(route);

const refusals: Scenario = {
  id: "7a",
  title: "every mutating route refuses anonymous, viewer, revoked, expired, other-channel and cross-site callers, audited",
  async run(suite) {
    const { app, tokens } = suite;
    // A deployment on beta, so cancel and retry reach the permission check of its channel.
    const beta = count(app, "SELECT coalesce(max(d.id), 0) AS n FROM Deployment d JOIN Channel c ON c.id = d.channelId WHERE c.name = 'beta'");
    check(beta > 0, "no deployment on beta yet (scenario 1 makes some)");
    const ROUTES = routes(beta);
    const viewer = await app.signIn(USERS.viewer.name, USERS.viewer.password);
    const admin = await app.signIn(USERS.admin.name, USERS.admin.password);
    const refusedBefore = count(app, "SELECT count(*) AS n FROM RefusedAttempt");
    const deployments = count(app, "SELECT count(*) AS n FROM Deployment");
    const callers: { who: string; opts: (route: string) => Parameters<App["request"]>[2]; expect: number[]; applies?: (route: string) => boolean }[] = [
      { who: "anonymous", opts: () => ({}), expect: [401] },
      { who: "viewer session", opts: () => ({ cookie: viewer, headers: { origin: app.url } }), expect: [403] },
      { who: "revoked token", opts: () => ({ token: tokens.revoked }), expect: [401] },
      { who: "expired token", opts: () => ({ token: tokens.expired }), expect: [401] },
      { who: "canary-only token", opts: () => ({ token: tokens.canaryOnly }), expect: [403], applies: betaOnly },
      { who: "canary-only token, beyond its permissions", opts: () => ({ token: tokens.canaryOnly }), expect: [403], applies: (r) => !betaOnly(r) },
      { who: "cross-site POST with an admin session", opts: () => ({ cookie: admin, headers: { origin: "http://evil.example", "sec-fetch-site": "cross-site" } }), expect: [403] },
    ];
    const wrong: string[] = [];
    let n = 0;
    for (const c of callers) {
      for (const r of ROUTES) {
        if (c.applies && !c.applies(r.route)) continue;
        const res = await app.request("POST", r.route, { ...c.opts(r.route), body: r.body });
        n++;
        if (!c.expect.includes(res.status)) wrong.push(`${c.who} POST ${r.route} → ${res.status} ${res.text.slice(0, 80)}`);
      }
    }
    check(wrong.length === 0, `${wrong.length} of ${n} refusals went wrong: ${wrong.slice(0, 5).join("; ")}`);
    check(count(app, "SELECT count(*) AS n FROM Deployment") === deployments, "a refused caller started a deployment");
    check(count(app, "SELECT count(*) AS n FROM User WHERE role = 'admin'") === 1, "a refused caller made someone admin");
    const recorded = withDb(app, (db) => db.prepare("SELECT count(*) AS n, count(DISTINCT route) AS routes FROM RefusedAttempt").get() as { n: number; routes: number });
    check(recorded.n > refusedBefore, "no refused attempt was counted");
    const audited = count(app, "SELECT count(*) AS n FROM AuditEvent WHERE action = 'auth.refused'");
    check(audited > 0, "no auth.refused audit event");
    return [`${n} refused requests (${callers.length} callers × ${ROUTES.length} routes): every one 401/403`, `${recorded.n} refusal counters over ${recorded.routes} routes; ${audited} auth.refused events`];
  },
};

const hostKey: Scenario = {
  id: "7b",
  title: "a host presenting another host key is refused and the person told why",
  async run(suite) {
    const { app, tokens, sb } = suite;
    const host = "beta05";
    await changeHostKey(sb, host);
    try {
      await app.post("/api/hosts/refresh", tokens.admin);
      const hosts = await app.get("/api/hosts", tokens.viewer);
      const h = (hosts.json.hosts as { name: string; status: string; errorKind?: string; error?: string; observation?: { errorKind?: string; error?: string } }[]).find((x) => x.name === host);
      const said = JSON.stringify(h);
      check(/host-key-changed/.test(said), `the host's status does not say its key changed: ${said.slice(0, 300)}`);
      check(/host key/i.test(said), `no sentence about the host key: ${said.slice(0, 300)}`);
      const { to } = await otherVersion(suite, [host]);
      const res = await app.post("/api/channels/beta/promote", tokens.admin, { version: to, reason: "fault suite: changed host key", override: true });
      let figure = `promote refused ${res.status}`;
      if (res.status === 202) {
        const d = await waitFinished(app, tokens.admin, res.json.deployment.id);
        const t = d.targets.find((x) => x.host === host)!;
        check(t.status === "failed" || t.status === "skipped", `${host} with a changed key ended ${t.status}`);
        if (t.status === "failed") check(/host key/i.test(`${t.error}`), `${host} failed without naming the host key: ${t.error}`);
        figure = `promotion: ${host} ${t.status} (${t.error?.slice(0, 80)})`;
      } else {
        check(/host key|unreachable/i.test(res.text), `promote refused without naming the host: ${res.text.slice(0, 200)}`);
      }
      return [`refresh: ${host} host-key-changed, told why`, figure];
    } finally {
      await restoreHostKey(sb, host);
      await app.post("/api/hosts/refresh", tokens.admin);
    }
  },
};

function secretsOf(suite: Suite): { name: string; value: string }[] {
  const key = readFileSync(suite.sb.privateKeyPath, "utf8")
    .split("\n")
    .filter((l) => l.length >= 40 && !l.startsWith("-----"))
    .map((value, i) => ({ name: `private key line ${i + 1}`, value }));
  return [
    ...Object.entries(suite.tokens).map(([name, value]) => ({ name: `token ${name}`, value })),
    ...Object.values(USERS).map((u) => ({ name: `password of ${u.name}`, value: u.password })),
    ...Object.entries(SECRETS).map(([name, value]) => ({ name, value })),
    ...key,
  ];
}

const secrets: Scenario = {
  id: "7c",
  title: "secrets never appear in logs, API answers, pages, exports, webhooks or audit payloads",
  async run(suite) {
    const { app, tokens } = suite;
    const admin = await app.signIn(USERS.admin.name, USERS.admin.password);
    const places: { where: string; text: string }[] = [];
    for (const page of ["/", "/builds", "/hosts", "/deployments", "/audit", "/settings/tokens", "/settings/users", "/signin", "/channels/beta"]) {
      places.push({ where: `page ${page}`, text: (await app.request("GET", page, { cookie: admin, keepAnswer: false })).text });
    }
    for (const api of ["/api/health", "/api/builds", "/api/hosts", "/api/channels", "/api/deployments", "/api/audit?limit=200", "/api/tokens", "/api/users", "/api/audit/verify"]) {
      places.push({ where: `GET ${api}`, text: (await app.get(api, tokens.admin)).text });
    }
    const d = count(app, "SELECT coalesce(max(id), 0) AS n FROM Deployment");
    if (d) places.push({ where: `GET /api/deployments/${d}`, text: (await app.get(`/api/deployments/${d}`, tokens.admin)).text });
    for (const format of ["csv", "json"]) places.push({ where: `export ${format}`, text: (await app.request("GET", `/api/audit/export?format=${format}`, { token: tokens.admin, keepAnswer: false })).text });
    places.push({ where: "every API answer of the suite", text: app.answers.join("\n") });
    places.push({ where: "server log", text: app.serverLog() });
    places.push({ where: "webhook deliveries", text: suite.webhooks.join("\n") });
    places.push({ where: "audit payloads", text: withDb(app, (db) => (db.prepare("SELECT payload || ' ' || coalesce(target, '') AS p FROM AuditEvent").all() as { p: string }[]).map((r) => r.p).join("\n")) });
    places.push({ where: "deployment outputs", text: withDb(app, (db) => (db.prepare("SELECT output || ' ' || coalesce(error, '') AS o FROM DeploymentTarget").all() as { o: string }[]).map((r) => r.o).join("\n")) });
    const leaks: string[] = [];
    const list = secretsOf(suite);
    for (const p of places) for (const s of list) if (p.text.includes(s.value)) leaks.push(`${s.name} in ${p.where}`);
    check(leaks.length === 0, `secrets leaked: ${leaks.join("; ")}`);
    check(suite.webhooks.length > 0, "no webhook was delivered, so the webhook check saw nothing");
    const bytes = places.reduce((n, p) => n + p.text.length, 0);
    return [`${list.length} secrets searched in ${places.length} places (${(bytes / 1e6).toFixed(1)} MB): none found`];
  },
};

export const SECURITY: Scenario[] = [refusals, hostKey, secrets];
