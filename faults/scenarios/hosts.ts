// 2. Hosts failing during a promotion: each ends in the right per-host error within its timeout,
// the failure threshold holds, no target is left running and no remote command outlives it.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { hangHost, hostCommands, publishBuild, removeBuild, setInstalled, setRepositoryMode, stopHost, tamperRepository } from "../../e2e/sandbox";
import { check, promote, sleep, truth, waitFinished, type DeploymentView } from "../harness";
import type { Scenario } from "../index";
import { FAULT_HOSTS, STRICT_HOSTS, type Suite } from "../suite";
import { otherVersion } from "./crash";

const CONNECT_TIMEOUT = 5;
const COMMAND_TIMEOUT = 25;
// The remote `timeout -k 10` lets a command 10 s to die after its TERM.
const KILL_GRACE = 10;
const SLACK = 6;

function seconds(t: DeploymentView["targets"][number]): number {
  return t.startedAt && t.finishedAt ? (Date.parse(t.finishedAt) - Date.parse(t.startedAt)) / 1000 : NaN;
}

function target(d: DeploymentView, host: string) {
  const t = d.targets.find((x) => x.host === host);
  check(t, `deployment ${d.id} has no target ${host}`);
  return t;
}

function expectFailed(d: DeploymentView, host: string, pattern: RegExp, withinSeconds: number): string {
  const t = target(d, host);
  const said = `${t.errorKind}: ${t.error} ${t.output}`;
  check(t.status === "failed", `${host}: expected failed, got ${t.status} (${said})`);
  check(pattern.test(said), `${host}: the error does not match ${pattern}: ${said.slice(0, 500)}`);
  const s = seconds(t);
  check(s <= withinSeconds, `${host}: failed after ${s.toFixed(1)} s, beyond its ${withinSeconds} s`);
  return `${host} ${t.errorKind} in ${s.toFixed(1)} s`;
}

/** No command started over SSH still runs on the hosts once the deployment has ended. */
async function nothingLeftRunning(suite: Suite, hosts: readonly string[]): Promise<void> {
  // An sshd session needs a moment to close after its command exits.
  for (let i = 0; i < 10; i++) {
    // sshd's own per-connection processes are not commands: a connection may stay open for reuse.
    const commands = async (h: string) => (await hostCommands(suite.sb, h)).filter((p) => !p.cmdline.startsWith("sshd:"));
    const left = (await Promise.all(hosts.map(async (h) => ({ h, p: await commands(h) })))).filter((x) => x.p.length);
    if (left.length === 0) return;
    if (i === 9) check(false, `still running on the hosts after the deployment ended: ${left.map((x) => `${x.h}: ${x.p.map((p) => p.cmdline).join(" | ")}`).join("; ")}`);
    await sleep(500);
  }
}

function noneRunning(d: DeploymentView): void {
  const open = d.targets.filter((t) => t.status === "running" || t.status === "pending");
  check(open.length === 0, `deployment ${d.id} ended ${d.status} with targets ${open.map((t) => `${t.host} ${t.status}`).join(", ")}`);
}

/** Holds apt's locks on a host root the way a running apt does (fcntl write locks), until killed. */
function holdAptLock(root: string): ChildProcess {
  const files = [path.join(root, "var/lib/dpkg/lock-frontend"), path.join(root, "var/lib/dpkg/lock"), path.join(root, "var/lib/apt/lists/lock"), path.join(root, "var/cache/apt/archives/lock")];
  const script = 'use Fcntl; my @h; for my $p (@ARGV) { open(my $f, ">>", $p) or die "open $p: $!"; my $l = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die "lock $p: $!"; push @h, $f } $| = 1; print "locked\\n"; sleep 600';
  return spawn("perl", ["-e", script, ...files], { stdio: ["ignore", "pipe", "inherit"] });
}

async function locked(p: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once("data", () => resolve());
    p.once("exit", (code) => reject(new Error(`the apt lock holder exited ${code}`)));
  });
}

const mixedFaults: Scenario = {
  id: "2a",
  title: "sshd stopped, host hanging, apt lock held: per-host errors within their timeouts",
  async run(suite, log) {
    const { app, tokens, sb } = suite;
    const [stopped, hung, aptLocked, ...good] = FAULT_HOSTS as [string, string, string, ...string[]];
    const { from, to } = await otherVersion(suite, FAULT_HOSTS);
    await stopHost(sb, stopped);
    await hangHost(sb, hung);
    const holder = holdAptLock(sb.hosts.find((h) => h.name === aptLocked)!.root);
    let d: DeploymentView;
    try {
      await locked(holder);
      d = await waitFinished(app, tokens.admin, await promote(app, tokens.deployer, "faults", to, "fault suite: failing hosts"), 120_000);
    } finally {
      holder.kill("SIGKILL");
    }
    noneRunning(d);
    check(d.status === "partial", `expected partial (some hosts changed), got ${d.status}`);
    const figures = [
      expectFailed(d, stopped, /refused/i, CONNECT_TIMEOUT + SLACK),
      expectFailed(d, hung, /timeout|timed out|handshake/i, CONNECT_TIMEOUT * 2 + SLACK),
      expectFailed(d, aptLocked, /lock/i, COMMAND_TIMEOUT + SLACK),
    ];
    for (const h of good) check(target(d, h).status === "succeeded", `${h}: ${target(d, h).status} ${target(d, h).error}`);
    await nothingLeftRunning(suite, FAULT_HOSTS.filter((h) => h !== stopped && h !== hung));
    const now = await truth(sb, FAULT_HOSTS.filter((h) => h !== stopped && h !== hung));
    check(now.get(aptLocked) === from.get(aptLocked), `${aptLocked} changed though its apt was locked`);
    for (const h of good) check(now.get(h) === to, `${h} runs ${now.get(h)}, not ${to}`);
    log(figures.join("; "));
    return [...figures, `${good.length} healthy hosts on the version, deployment partial`];
  },
};

const BROKEN = "4.83.0-1+0~20261202090000.1~1.gbpbad000";

const failingPostinst: Scenario = {
  id: "2b",
  title: "maintainer script fails: the host fails, the threshold (0) skips the rest",
  async run(suite, log) {
    const { app, tokens, sb } = suite;
    const before = await truth(sb, STRICT_HOSTS);
    await publishBuild(sb, BROKEN, { failingPostinst: true });
    try {
      const r = await app.post("/api/builds/refresh", tokens.admin);
      check(r.status === 200 && r.json.outcome.ok, `refresh: ${r.text.slice(0, 200)}`);
      const d = await waitFinished(app, tokens.admin, await promote(app, tokens.deployer, "strict", BROKEN, "fault suite: broken postinst"), 120_000);
      noneRunning(d);
      check(d.status === "failed" || d.status === "partial", `expected failed, got ${d.status}`);
      const first = expectFailed(d, STRICT_HOSTS[0]!, /postinst|exit|dpkg|install/i, COMMAND_TIMEOUT + SLACK);
      const rest = STRICT_HOSTS.slice(1).map((h) => target(d, h));
      check(rest.every((t) => t.status === "skipped"), `after the first failure (maxFailures 0) the others are ${rest.map((t) => t.status).join(", ")}`);
      const after = await truth(sb, STRICT_HOSTS.slice(1));
      for (const h of STRICT_HOSTS.slice(1)) check(after.get(h) === before.get(h), `${h} was skipped yet changed to ${after.get(h)}`);
      await nothingLeftRunning(suite, STRICT_HOSTS);
      log(first);
      return [first, `${rest.length} hosts skipped and untouched`];
    } finally {
      // The host dpkg left half-configured gets a good build again; the broken one leaves the index.
      await setInstalled(sb, STRICT_HOSTS[0]!, before.get(STRICT_HOSTS[0]!) ?? null);
      await removeBuild(sb, BROKEN);
      suite.versions.splice(0, suite.versions.length, ...sb.versions);
      await app.post("/api/builds/refresh", tokens.admin);
    }
  },
};

const repositoryDown: Scenario = {
  id: "2c",
  title: "repository down during a promotion",
  async run(suite) {
    const { app, tokens, sb } = suite;
    const { from, to } = await otherVersion(suite, STRICT_HOSTS);
    let d: DeploymentView;
    const id = await promote(app, tokens.deployer, "strict", to, "fault suite: repository down");
    await setRepositoryMode(sb, "down");
    try {
      d = await waitFinished(app, tokens.admin, id, 120_000);
    } finally {
      await setRepositoryMode(sb, "up");
    }
    noneRunning(d);
    const first = target(d, STRICT_HOSTS[0]!);
    // The first host may have fetched before the server went away; then the second one meets it.
    const failed = d.targets.filter((t) => t.status === "failed");
    check(failed.length === 1, `expected exactly one failed host (maxFailures 0), got ${failed.length}: ${d.targets.map((t) => `${t.host} ${t.status}`).join(", ")}`);
    const f = expectFailed(d, failed[0]!.host, /exit status 100|exit 100|Failed to fetch|Could not connect|Unable to connect|refused/i, COMMAND_TIMEOUT + SLACK);
    check(d.targets.filter((t) => t.status === "skipped").length >= 1, "no host was skipped after the failure");
    const now = await truth(sb, STRICT_HOSTS);
    for (const t of d.targets) if (t.status !== "succeeded") check(now.get(t.host) === from.get(t.host), `${t.host} (${t.status}) changed to ${now.get(t.host)}`);
    await nothingLeftRunning(suite, STRICT_HOSTS);
    return [f, `first host ${first.status}; the rest skipped`];
  },
};

const hangingRepository: Scenario = {
  id: "2d",
  title: "a command that hangs (repository never answers) is killed at the command timeout",
  async run(suite) {
    const { app, tokens, sb } = suite;
    const { from, to } = await otherVersion(suite, STRICT_HOSTS);
    const id = await promote(app, tokens.deployer, "strict", to, "fault suite: hanging apt");
    await setRepositoryMode(sb, "hang");
    let d: DeploymentView;
    try {
      d = await waitFinished(app, tokens.admin, id, 120_000);
    } finally {
      await setRepositoryMode(sb, "up");
    }
    noneRunning(d);
    const failed = d.targets.filter((t) => t.status === "failed");
    check(failed.length === 1, `expected one failed host, got ${d.targets.map((t) => `${t.host} ${t.status}`).join(", ")}`);
    const f = expectFailed(d, failed[0]!.host, /timeout|timed out/i, COMMAND_TIMEOUT + KILL_GRACE + SLACK);
    await nothingLeftRunning(suite, STRICT_HOSTS);
    const now = await truth(sb, STRICT_HOSTS);
    check(now.get(failed[0]!.host) === from.get(failed[0]!.host), `${failed[0]!.host} changed though its install timed out`);
    return [f, "no apt or shell left on the host after the timeout"];
  },
};

const TAMPERED = "4.84.0-1+0~20261202100000.1~1.gbptam000";

const tamperedDeb: Scenario = {
  id: "2e",
  title: "the .deb is tampered with after the start: every host refuses it (Hash Sum mismatch)",
  async run(suite) {
    const { app, tokens, sb } = suite;
    await publishBuild(sb, TAMPERED);
    suite.versions.splice(0, suite.versions.length, ...sb.versions);
    const r = await app.post("/api/builds/refresh", tokens.admin);
    check(r.status === 200 && r.json.outcome.ok, `refresh: ${r.text.slice(0, 200)}`);
    const before = await truth(sb, FAULT_HOSTS);
    // The repository answers slowly so the hosts are still in apt-get update when the file changes.
    await setRepositoryMode(sb, "slow", { delayMs: 1500 });
    let d: DeploymentView;
    try {
      const id = await promote(app, tokens.deployer, "faults", TAMPERED, "fault suite: tampered deb");
      await tamperRepository(sb, "deb", { version: TAMPERED });
      d = await waitFinished(app, tokens.admin, id, 120_000);
    } finally {
      await setRepositoryMode(sb, "up");
    }
    noneRunning(d);
    check(d.status === "failed", `expected failed, got ${d.status}: ${d.targets.map((t) => `${t.host} ${t.status}`).join(", ")}`);
    for (const h of FAULT_HOSTS) expectFailed(d, h, /Hash Sum mismatch|unexpected size|hash/i, COMMAND_TIMEOUT + SLACK);
    const now = await truth(sb, FAULT_HOSTS);
    for (const h of FAULT_HOSTS) check(now.get(h) === before.get(h), `${h} runs ${now.get(h)} after a tampered .deb`);
    await nothingLeftRunning(suite, FAULT_HOSTS);
    return [`${FAULT_HOSTS.length}/${FAULT_HOSTS.length} hosts failed with a hash mismatch, none changed`];
  },
};

export const HOSTS_FAILING: Scenario[] = [mixedFaults, failingPostinst, repositoryDown, hangingRepository, tamperedDeb];
