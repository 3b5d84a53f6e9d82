// Test fixtures for the fleet suites: a sandbox cluster per file and an extra sshd as a bastion.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { down, up, type Sandbox } from "../../../e2e/sandbox";
import { readConfigFile, type AppConfig, type SshConfig } from "../../config";

export interface FleetSandbox {
  sb: Sandbox;
  config: AppConfig;
  dir: string;
  /** The host's public key line as sshd serves it now (`type base64`). */
  hostKeyLine(name: string): string;
  stop(): Promise<void>;
}

export async function startSandbox(hosts: number, tweak: (ssh: SshConfig) => void = () => {}): Promise<FleetSandbox> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "scap-fleet-"));
  const sb = await up({ hosts, dir });
  const config = readConfigFile(sb.configPath);
  tweak(config.ssh);
  return {
    sb,
    config,
    dir,
    hostKeyLine(name) {
      const host = sb.hosts.find((h) => h.name === name)!;
      return readFileSync(path.join(host.root, "etc/ssh/ssh_host_ed25519_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    },
    async stop() {
      await down(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A known_hosts file derived from the sandbox's, edited by `edit` (receives and returns lines). */
export function knownHostsVariant(fs: FleetSandbox, name: string, edit: (lines: string[]) => string[]): string {
  const lines = readFileSync(fs.sb.knownHostsPath, "utf8").split("\n").filter((l) => l.trim() !== "");
  const file = path.join(fs.dir, name);
  writeFileSync(file, edit(lines).join("\n") + "\n");
  return file;
}

function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host: address, port });
      s.once("data", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`no sshd on ${address}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function waitForRefusal(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port });
      s.once("connect", () => {
        s.destroy();
        resolve(false);
      });
      s.once("error", () => resolve(true));
    });
    if (refused) return;
    if (Date.now() > deadline) throw new Error(`${address}:${port} still accepts connections`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A real sshd that allows TCP forwarding (the sandbox hosts do not), on a free address of the
 * sandbox's /24, accepting the sandbox's client key. Returns its known_hosts line and a stop function.
 */
export async function startBastion(fs: FleetSandbox): Promise<{ address: string; knownHostsLine: string; stop: () => Promise<void> }> {
  const block = fs.sb.hosts[0]!.address.split(".").slice(0, 3).join(".");
  const address = `${block}.250`;
  const root = path.join(fs.dir, "bastion");
  execFileSync("mkdir", ["-p", root]);
  const key = path.join(root, "host_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const config = [
    `ListenAddress ${address}:22`,
    `HostKey ${key}`,
    `PidFile ${root}/sshd.pid`,
    `AuthorizedKeysFile ${fs.sb.privateKeyPath}.pub`,
    "PermitRootLogin prohibit-password",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "AllowTcpForwarding yes",
    `SetEnv HOME=${root}`,
    "",
  ].join("\n");
  writeFileSync(path.join(root, "sshd_config"), config);
  // sshd needs /run/sshd; a private mount namespace leaves the machine's /run alone.
  // detached: its own session; unshare and sh exec in place, so child.pid ends up being sshd.
  const child = spawn(
    "unshare",
    ["--mount", "--propagation", "private", "--", "sh", "-c", `mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f ${root}/sshd_config`],
    { detached: true, stdio: "ignore" },
  );
  child.unref();
  await waitForPort(address, 22, 10_000);
  const pub = readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  return {
    address,
    knownHostsLine: `${address} ${pub}`,
    stop: async () => {
      try {
        process.kill(child.pid!, "SIGTERM");
      } catch {
        // Already gone.
      }
      await waitForRefusal(address, 22, 5000);
    },
  };
}
