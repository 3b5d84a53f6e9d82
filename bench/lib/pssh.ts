// The peer for fleet commands: Debian's parallel-ssh (OpenSSH client), on the sandbox's own key
// and known_hosts, with the same parallelism as ours.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { Sandbox } from "../../e2e/sandbox";
import type { AppConfig } from "../../lib/config";

/** Writes parallel-ssh's host file for the config's hosts and returns its path. */
export function writeHostsFile(file: string, config: AppConfig): string {
  writeFileSync(file, config.hosts.map((h) => h.address ?? h.name).join("\n") + "\n");
  return file;
}

/**
 * Runs one command on every host of the config at once; resolves to [ms, hosts that succeeded].
 * Asynchronous, so servers in this process (the sandbox's repository) keep answering meanwhile.
 */
export function psshRun(sb: Sandbox, config: AppConfig, hostsFile: string, command: string, timeoutSeconds: number): Promise<[number, number]> {
  const args = [
    "-h", hostsFile,
    "-l", config.ssh.user,
    "-x", `-i ${sb.privateKeyPath} -o UserKnownHostsFile=${sb.knownHostsPath} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=${config.ssh.connectTimeoutSeconds}`,
    "-p", String(config.hosts.length),
    "-t", String(timeoutSeconds),
    "-i",
    command,
  ];
  return new Promise((resolve) => {
    const t0 = performance.now();
    // parallel-ssh exits non-zero when any host failed; its output still counts.
    execFile("parallel-ssh", args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (_err, stdout) => {
      resolve([performance.now() - t0, (String(stdout ?? "").match(/\[SUCCESS\]/g) ?? []).length]);
    });
  });
}
