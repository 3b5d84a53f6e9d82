import { shellQuote } from "../shell";

/** Remote `timeout -k`: after TERM, KILL this many seconds later. */
export const KILL_AFTER_S = 10;

/** Bounds a remote command on the host itself: OpenSSH refuses signals on root sessions, so closing the channel alone may leave it running. */
export function withRemoteTimeout(command: string, seconds: number): string {
  return `timeout -k ${KILL_AFTER_S} ${seconds} sh -c ${shellQuote(command)}`;
}
