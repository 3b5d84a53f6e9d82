// npm run sandbox -- <command> ...   (see USAGE)
import {
  changeHostKey,
  restoreHostKey,
  down,
  hangHost,
  load,
  publishBuild,
  removeBuild,
  REPOSITORY_FAULTS,
  restoreRepository,
  setInstalled,
  setRepositoryMode,
  startHost,
  status,
  stopHost,
  tamperRepository,
  up,
  type RepositoryFault,
  type RepositoryMode,
} from "./index";
import { HOST_NAME, isDebianVersion } from "./validate";

const USAGE = `usage: npm run sandbox -- <command>

  up --hosts N --dir DIR [--versions A,B,C] [--installed VERSION|none]
                        start a sandbox beta cluster (N = 1..200); DIR/config.yaml is its app config
  down --dir DIR        stop everything the sandbox in DIR started
  status --dir DIR [--json]
  fault --dir DIR stop-host|start-host|hang-host|change-host-key|restore-host-key NAME
  fault --dir DIR repo up|down|slow|hang [--delay-ms MS]
  fault --dir DIR tamper ${REPOSITORY_FAULTS.join("|")} [--version VERSION]
  fault --dir DIR restore
  publish --dir DIR VERSION
  remove --dir DIR VERSION
  set-installed --dir DIR NAME VERSION|none`;

class UsageError extends Error {}

interface Parsed {
  command: string;
  flags: Map<string, string | true>;
  args: string[];
}

const VALUE_FLAGS = new Set(["hosts", "dir", "versions", "installed", "delay-ms", "version"]);
const BOOLEAN_FLAGS = new Set(["json", "help"]);

function parse(argv: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) {
      args.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq >= 0 ? eq : undefined);
    if (BOOLEAN_FLAGS.has(name)) {
      flags.set(name, true);
    } else if (VALUE_FLAGS.has(name)) {
      const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`unknown option ${a}`);
    }
  }
  const command = args.shift();
  if (!command) throw new UsageError("no command given");
  return { command, flags, args };
}

function only(p: Parsed, allowed: string[], positional: number): void {
  for (const f of p.flags.keys()) if (!allowed.includes(f)) throw new UsageError(`${p.command} does not take --${f}`);
  if (p.args.length !== positional) throw new UsageError(`${p.command} takes ${positional} argument(s), got ${p.args.length}`);
}

function dirOf(p: Parsed): string {
  const dir = p.flags.get("dir");
  if (typeof dir !== "string") throw new UsageError("--dir DIR is required");
  return dir;
}

function version(v: string | undefined): string {
  if (v === undefined || !isDebianVersion(v)) throw new UsageError(`not a Debian version: ${JSON.stringify(v ?? "")}`);
  return v;
}

function hostName(n: string | undefined): string {
  if (n === undefined || !HOST_NAME.test(n)) throw new UsageError(`not a host name: ${JSON.stringify(n ?? "")}`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const p = parse(argv);
  if (p.flags.has("help") || p.command === "help") {
    console.log(USAGE);
    return;
  }
  switch (p.command) {
    case "up": {
      only(p, ["hosts", "dir", "versions", "installed"], 0);
      const hostsFlag = p.flags.get("hosts");
      if (typeof hostsFlag !== "string" || !/^[0-9]+$/.test(hostsFlag)) throw new UsageError("--hosts N is required (a number from 1 to 200)");
      const versionsFlag = p.flags.get("versions");
      const versions = typeof versionsFlag === "string" ? versionsFlag.split(",").map((v) => version(v.trim())) : undefined;
      const installedFlag = p.flags.get("installed");
      const installed = installedFlag === undefined ? undefined : installedFlag === "none" ? null : version(installedFlag as string);
      const started = Date.now();
      const sb = await up({ hosts: Number(hostsFlag), dir: dirOf(p), versions, installed });
      const first = sb.hosts[0]!;
      const last = sb.hosts[sb.hosts.length - 1]!;
      console.log(`sandbox up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`  repository  ${sb.repoUrl} (suite ${sb.suite}, ${sb.versions.length} builds: ${sb.versions.join(", ")})`);
      console.log(`  hosts       ${sb.hosts.length}: ${first.name} ${first.address}${sb.hosts.length > 1 ? ` .. ${last.name} ${last.address}` : ""} (port ${first.port})`);
      console.log(`  config      ${sb.configPath}`);
      console.log(`  ssh         ssh -F /dev/null -i ${sb.privateKeyPath} -o UserKnownHostsFile=${sb.knownHostsPath} -o StrictHostKeyChecking=yes root@${first.address}`);
      console.log(`  stop with   npm run sandbox -- down --dir ${sb.dir}`);
      return;
    }
    case "down":
      only(p, ["dir"], 0);
      await down(dirOf(p));
      console.log("sandbox down");
      return;
    case "status": {
      only(p, ["dir", "json"], 0);
      const st = await status(await load(dirOf(p)));
      if (p.flags.has("json")) {
        console.log(JSON.stringify(st, null, 2));
        return;
      }
      console.log(`repository ${st.repoUrl} server=${st.repoServer} mode=${st.repoMode}${st.tampered ? ` tampered=${st.tampered}` : ""}`);
      console.log(`builds     ${st.versions.join(", ") || "(none)"}`);
      console.log(`processes  ${st.processes}, ${(st.rssKb / 1024).toFixed(1)} MB RSS`);
      for (const h of st.hosts) console.log(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${h.sshd.padEnd(8)} ${h.installed ?? "(no scap)"}`);
      return;
    }
    case "fault": {
      const kind = p.args[0];
      const sbDir = dirOf(p);
      switch (kind) {
        case "stop-host":
        case "start-host":
        case "hang-host":
        case "change-host-key":
        case "restore-host-key": {
          only(p, ["dir"], 2);
          const name = hostName(p.args[1]);
          const sb = await load(sbDir);
          const fn = { "stop-host": stopHost, "start-host": startHost, "hang-host": hangHost, "change-host-key": changeHostKey, "restore-host-key": restoreHostKey }[kind];
          await fn(sb, name);
          console.log(`${kind} ${name}: done`);
          return;
        }
        case "repo": {
          only(p, ["dir", "delay-ms"], 2);
          const mode = p.args[1];
          if (!["up", "down", "slow", "hang"].includes(mode ?? "")) throw new UsageError("fault repo takes up|down|slow|hang");
          const delay = p.flags.get("delay-ms");
          if (delay !== undefined && (typeof delay !== "string" || !/^[0-9]+$/.test(delay))) throw new UsageError("--delay-ms takes a number of milliseconds");
          await setRepositoryMode(await load(sbDir), mode as RepositoryMode, delay === undefined ? {} : { delayMs: Number(delay) });
          console.log(`repository ${mode}`);
          return;
        }
        case "tamper": {
          only(p, ["dir", "version"], 2);
          const what = p.args[1];
          if (!REPOSITORY_FAULTS.includes(what as RepositoryFault)) throw new UsageError(`fault tamper takes ${REPOSITORY_FAULTS.join("|")}`);
          const v = p.flags.get("version");
          await tamperRepository(await load(sbDir), what as RepositoryFault, v === undefined ? {} : { version: version(v as string) });
          console.log(`repository tampered: ${what}`);
          return;
        }
        case "restore":
          only(p, ["dir"], 1);
          await restoreRepository(await load(sbDir));
          console.log("repository restored");
          return;
        default:
          throw new UsageError(`unknown fault ${JSON.stringify(kind ?? "")}`);
      }
    }
    case "publish":
    case "remove": {
      only(p, ["dir"], 1);
      const v = version(p.args[0]);
      const sb = await load(dirOf(p));
      await (p.command === "publish" ? publishBuild : removeBuild)(sb, v);
      console.log(`${p.command === "publish" ? "published" : "removed"} ${v}; builds now: ${sb.versions.join(", ") || "(none)"}`);
      return;
    }
    case "set-installed": {
      only(p, ["dir"], 2);
      const name = hostName(p.args[0]);
      const v = p.args[1] === "none" ? null : version(p.args[1]);
      await setInstalled(await load(dirOf(p)), name, v);
      console.log(`${name}: ${v ?? "scap purged"}`);
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(p.command)}`);
  }
}

// A closed pipe (`... | head`) is not a sandbox failure.
process.stdout.on("error", () => {});

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
