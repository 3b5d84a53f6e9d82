// One error class for every SSH failure, with a kind a caller can branch on.
import { addBrand, hasBrand } from "../../brand";
import { tailText } from "./tail";

export type SshErrorKind =
  | "refused"
  | "connect-timeout"
  | "command-timeout"
  | "auth"
  | "host-key-unknown"
  | "host-key-changed"
  | "host-key-revoked"
  | "dns"
  | "network"
  | "protocol"
  | "cancelled"
  /** Another caller held the host for longer than this one would wait (never a connect failure). */
  | "busy";

/** Kinds that mean the host could not be reached or trusted (no command ran). */
export const CONNECT_ERROR_KINDS: ReadonlySet<SshErrorKind> = new Set([
  "refused",
  "connect-timeout",
  "auth",
  "host-key-unknown",
  "host-key-changed",
  "host-key-revoked",
  "dns",
  "network",
]);

const ERROR_TAIL_CHARS = 2000;

export class SshError extends Error {
  readonly kind: SshErrorKind;
  readonly host: string;
  /** The command with secret-looking values masked; null when the failure came before it ran. */
  readonly command: string | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdoutTail: string;
  readonly stderrTail: string;
  readonly durationMs: number;
  /** For "busy": who held the host, as the holder named itself ("deployment 12"); otherwise null. */
  readonly holder: string | null;

  constructor(init: {
    kind: SshErrorKind;
    host: string;
    message: string;
    command?: string | null;
    exitCode?: number | null;
    signal?: string | null;
    stdout?: string;
    stderr?: string;
    durationMs: number;
    holder?: string | null;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "SshError";
    this.kind = init.kind;
    this.host = init.host;
    this.command = init.command == null ? null : redactCommand(init.command);
    this.exitCode = init.exitCode ?? null;
    this.signal = init.signal ?? null;
    this.stdoutTail = tailText(init.stdout ?? "", ERROR_TAIL_CHARS);
    this.stderrTail = tailText(init.stderr ?? "", ERROR_TAIL_CHARS);
    this.durationMs = init.durationMs;
    this.holder = init.holder ?? null;
    addBrand(this, "SshError");
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, "SshError");
  }
}

/** Masks values that look like credentials so a command can go into logs and error messages. */
export function redactCommand(command: string): string {
  const masked = command
    .replace(/\b([A-Za-z0-9_]*(?:pass(?:word)?|token|secret|api[_-]?key)[A-Za-z0-9_]*=)('[^']*'|"[^"]*"|\S+)/gi, "$1***")
    .replace(/(--?(?:pass(?:word)?|token|secret)[= ])('[^']*'|"[^"]*"|\S+)/gi, "$1***");
  return masked.length > 500 ? `${masked.slice(0, 500)}…` : masked;
}
