// Row 6: a promotion on a real sandbox, watched by live viewers and unwatched, on a server of its own.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parse, stringify } from "yaml";
import { down, up } from "../../e2e/sandbox";
import { median, type Figure } from "../lib/figures";
import { copyDatabase, rssMB, startApp, type RunningApp } from "./app";
import { loadNote, PORTS, waitForProbe, type Sizes, type Template } from "./setup";
import { watchPromotion, type PromotionRun } from "./viewers";

/** A sandbox config for one channel of every host, all in one batch, with no timers in the way. */
function promotionConfig(sandboxConfig: string, file: string, hosts: number): void {
  const raw = parse(readFileSync(sandboxConfig, "utf8")) as Record<string, unknown> & { ssh: Record<string, unknown>; repository: Record<string, unknown> };
  raw.ssh.concurrency = hosts;
  raw.repository.refreshSeconds = 86_400;
  raw.fleet = { refreshSeconds: 86_400 };
  raw.channels = [{ name: "beta", hosts: "all", batchSize: hosts, maxFailures: hosts }];
  writeFileSync(file, stringify(raw));
}

export async function promotionFigures(cwd: string, dir: string, t: Template, z: Sizes, log: (l: string) => void): Promise<{ figures: Figure[]; rss: number }> {
  const sbDir = path.join(dir, "sandbox");
  const t0 = performance.now();
  const sb = await up({ hosts: z.promotionHosts, dir: sbDir });
  let app: RunningApp | null = null;
  try {
    log(`http: sandbox of ${sb.hosts.length} hosts up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const configPath = path.join(dir, "config-promotion.yaml");
    promotionConfig(sb.configPath, configPath, z.promotionHosts);
    const databaseUrl = copyDatabase(t.databaseUrl, `file:${path.join(dir, "bench-promotion.db")}`);
    app = await startApp({ cwd, dir, databaseUrl, configPath, port: PORTS.promotion, token: t.token });
    await waitForProbe(app);
    const versions = [sb.versions[0]!, sb.versions[sb.versions.length - 1]!];
    const unwatched: PromotionRun[] = [];
    const watched: PromotionRun[] = [];
    let n = 0;
    for (let r = 0; r < z.rounds; r++) {
      // Alternate which goes first, so neither always follows the other.
      for (const viewers of r % 2 ? [z.viewers, 0] : [0, z.viewers]) {
        const run = await watchPromotion(app, { version: versions[n++ % 2]!, viewers, hosts: z.promotionHosts });
        (viewers ? watched : unwatched).push(run);
        log(`http: promotion of ${z.promotionHosts} hosts with ${viewers} viewers: ${(run.ms / 1000).toFixed(2)} s, ${run.errors} errors, ${run.sawFinal}/${viewers * 2} viewers saw the end state`);
      }
    }
    const rss = rssMB(app.pid);
    const w = watched.map((r) => r.ms / 1000);
    const u = unwatched.map((r) => r.ms / 1000);
    const errors = watched.reduce((a, r) => a + r.errors, 0);
    const missed = watched.reduce((a, r) => a + (r.viewers * 2 - r.sawFinal), 0);
    const allOk = [...watched, ...unwatched].every((r) => r.status === "succeeded");
    const ratio = median(w) / median(u);
    return {
      rss,
      figures: [
        {
          id: `6 promotion watched by ${z.viewers}+${z.viewers}`,
          what: `promotion of ${z.promotionHosts} sandbox hosts (one batch) with ${z.viewers} viewers of its event stream and ${z.viewers} of /hosts (each loading the page, then reading its live updates every 5 s)`,
          ours: { values: w, unit: "s" },
          peer: { values: u, unit: "s", name: "the same promotion unwatched" },
          goal: "≤ 1.2×; 0 errors; every viewer sees the final state",
          ratio,
          met: ratio <= 1.2 && errors === 0 && missed === 0 && allOk,
          note: `${errors} viewer errors; ${missed} viewers missed the final state; deployments ${allOk ? "all succeeded" : "not all succeeded"}; server RSS after ${rss.toFixed(0)} MB; ${loadNote()}`,
        },
      ],
    };
  } finally {
    await app?.stop();
    await down(sbDir);
  }
}

