// 5. 50 simultaneous promote / rollback / cancel / retry requests on the same and on overlapping
// channels: only deployments on disjoint hosts start, no request fails on our side, no deadlock,
// and the database stays consistent.
import { startHost, stopHost } from "../../e2e/sandbox";
import { ACTIVE, assertConsistent, check, count, promote, waitFinished, withDb } from "../harness";
import { STRICT_HOSTS, type Suite } from "../suite";
import type { Scenario } from "../index";
import { otherVersion } from "./crash";

/** A failed deployment on the strict channel (whose hosts canary does not share), made now when there is none. */
async function failedDeployment(suite: Suite): Promise<{ id: number }> {
  const find = () => withDb(suite.app, (db) => db.prepare(`SELECT d.id FROM Deployment d JOIN Channel c ON c.id = d.channelId WHERE c.name = 'strict' AND d.status IN ('failed','partial') ORDER BY d.id DESC LIMIT 1`).get() as { id: number } | undefined);
  const found = find();
  if (found) return found;
  const { to } = await otherVersion(suite, STRICT_HOSTS);
  await stopHost(suite.sb, STRICT_HOSTS[0]!);
  try {
    await waitFinished(suite.app, suite.tokens.admin, await promote(suite.app, suite.tokens.deployer, "strict", to, "fault suite: a deployment to retry"));
  } finally {
    await startHost(suite.sb, STRICT_HOSTS[0]!);
  }
  const made = find();
  check(made, "could not make a failed deployment to retry");
  return made;
}

const storm: Scenario = {
  id: "5a",
  title: "50 simultaneous promote/rollback/cancel/retry requests on overlapping channels",
  async run(suite, log) {
    const { app, tokens } = suite;
    check(count(app, `SELECT count(*) AS n FROM Deployment WHERE status IN ('queued','running')`) === 0, "a deployment is still active before the storm");
    const canary = suite.hosts[0]!;
    const { to } = await otherVersion(suite, [canary]);
    const failed = await failedDeployment(suite);
    const maxId = count(app, "SELECT coalesce(max(id), 0) AS n FROM Deployment");
    const reason = "fault suite: concurrent storm";
    const requests: { what: string; go: () => ReturnType<typeof app.post> }[] = [];
    for (let i = 0; i < 15; i++) requests.push({ what: "promote canary", go: () => app.post("/api/channels/canary/promote", tokens.deployer, { version: to, reason }) });
    for (let i = 0; i < 10; i++) requests.push({ what: "promote beta", go: () => app.post("/api/channels/beta/promote", tokens.admin, { version: to, reason, override: true }) });
    for (let i = 0; i < 10; i++) requests.push({ what: "rollback beta", go: () => app.post("/api/channels/beta/rollback", tokens.admin, { reason }) });
    for (let i = 0; i < 5; i++) requests.push({ what: "rollback canary", go: () => app.post("/api/channels/canary/rollback", tokens.deployer, { reason }) });
    for (let i = 0; i < 5; i++) requests.push({ what: "cancel", go: () => app.post(`/api/deployments/${maxId + 1}/cancel`, tokens.admin, {}) });
    for (let i = 0; i < 5; i++) requests.push({ what: "retry", go: () => app.post(`/api/deployments/${failed.id}/retry`, tokens.deployer, { reason }) });
    const t0 = Date.now();
    const answers = await Promise.all(requests.map(async (r) => ({ what: r.what, res: await r.go() })));
    const took = (Date.now() - t0) / 1000;
    const ours = answers.filter((a) => a.res.status >= 500);
    check(ours.length === 0, `${ours.length} request(s) failed on our side: ${ours.slice(0, 3).map((a) => `${a.what} ${a.res.status} ${a.res.text.slice(0, 120)}`).join("; ")}`);
    const unclear = answers.filter((a) => a.res.status >= 400 && !(a.res.json?.error?.message?.length > 0));
    check(unclear.length === 0, `refusals without a message: ${unclear.map((a) => a.what).join(", ")}`);
    const started = answers.filter((a) => a.res.status === 202 && a.what !== "cancel").map((a) => ({ what: a.what, id: a.res.json.deployment.id as number }));
    check(started.length >= 1, "nothing started");
    const rows = count(app, "SELECT count(*) AS n FROM Deployment WHERE id > ?", maxId);
    check(rows === started.length, `${rows} deployments were created, ${started.length} answered 202`);
    const ends = await Promise.all(started.map((s) => waitFinished(app, tokens.admin, s.id, 180_000)));
    // Deployments that were active at the same time never share a host (one may start on a host the previous one has just left).
    const spans = withDb(app, (db) =>
      started.map((s) => {
        const row = db.prepare("SELECT createdAt, finishedAt FROM Deployment WHERE id = ?").get(s.id) as { createdAt: string; finishedAt: string };
        const hosts = new Set((db.prepare("SELECT hostId FROM DeploymentTarget WHERE deploymentId = ?").all(s.id) as { hostId: number }[]).map((r) => r.hostId));
        const [from, to] = [Date.parse(row.createdAt), Date.parse(row.finishedAt)];
        check(Number.isFinite(from) && Number.isFinite(to), `deployment ${s.id} has no start or end time (${row.createdAt}, ${row.finishedAt})`);
        return { ...s, from, to, hosts };
      }),
    );
    for (let i = 0; i < spans.length; i++) {
      for (let j = i + 1; j < spans.length; j++) {
        const [a, b] = [spans[i]!, spans[j]!];
        const shared = [...a.hosts].filter((h) => b.hosts.has(h));
        const together = a.from < b.to && b.from < a.to;
        check(!(shared.length && together), `${a.what} (${a.id}) and ${b.what} (${b.id}) held ${shared.length} host(s) at the same time`);
      }
    }
    check(ends.every((d) => !ACTIVE.includes(d.status)), "a deployment is still active");
    assertConsistent(app);
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.res.status, (byStatus.get(a.res.status) ?? 0) + 1);
    const summary = [...byStatus].sort().map(([s, n]) => `${n}×${s}`).join(", ");
    log(`${summary}; started ${started.map((s) => `${s.what} → ${ends.find((d) => d.id === s.id)?.status}`).join(", ")}`);
    return [`50 requests answered in ${took.toFixed(1)} s: ${summary}`, `started: ${started.map((s) => s.what).join(", ")} (disjoint hosts)`, "database consistent after"];
  },
};

export const CONCURRENCY: Scenario[] = [storm];
