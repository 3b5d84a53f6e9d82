// The sandbox beta cluster: real sshd hosts, a real signed apt repository over HTTP, real
// apt/dpkg per host, all on this machine. Tests, the demo and benchmarks code against this module.
export {
  up,
  down,
  load,
  stopHost,
  startHost,
  hangHost,
  changeHostKey,
  restoreHostKey,
  setRepositoryMode,
  tamperRepository,
  restoreRepository,
  publishBuild,
  removeBuild,
  setInstalled,
  installedVersion,
  sshCommand,
  sandboxProcesses,
  hostCommands,
  status,
  DEFAULT_VERSIONS,
  DEFAULT_SLOW_DELAY_MS,
  MAX_HOSTS,
  type Sandbox,
  type SandboxHost,
  type SandboxOptions,
  type SandboxStatus,
  type HostStatus,
} from "./sandbox";
export { REPOSITORY_FAULTS, type RepositoryFault } from "./repo";
export type { RepositoryMode } from "./state";
export { isDebianVersion, sortVersions, compareVersions } from "./validate";
export type { RunResult } from "./util";
