// The fleet's SSH layer. Importers use this module ("./ssh", "@/lib/fleet/ssh"), not its parts.
import "server-only";

export { CONNECT_ERROR_KINDS, redactCommand, SshError, type SshErrorKind } from "./errors";
export type { ExecOptions, ExecResult } from "./exec";
export { hostHolder } from "./locks";
export {
  closeFleetTransport,
  createFleetTransport,
  getFleetTransport,
  type FleetTransport,
  type HostSession,
  type HostWaitOptions,
  type TransportExecOptions,
  type TransportOptions,
  type WithHostOptions,
} from "./transport";
