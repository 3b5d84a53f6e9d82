// `promote`, `rollback` and `wait` for CI jobs: the JSON API over HTTP with a bearer token. Nothing here
// reads the database or the config, so a job needs only a URL and a token.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import type { DeploymentJson, DeploymentTargetView } from "../lib/deploy/deployment-types";

export const DEPLOY_COMMANDS = ["promote", "rollback", "wait"] as const;
export type DeployCommandName = (typeof DEPLOY_COMMANDS)[number];

export function isDeployCommand(word: string | undefined): word is DeployCommandName {
  return (DEPLOY_COMMANDS as readonly string[]).includes(word ?? "");
}

/** What a CI job branches on. */
export const EXIT = {
  /** Succeeded, or (without --wait) accepted. */
  SUCCEEDED: 0,
  /** Ended failed, partial, cancelled or interrupted, or --timeout passed first. */
  NOT_SUCCEEDED: 1,
  /** The server refused the request (400/401/403/404/409/413), or the command line is wrong. */
  REFUSED: 2,
  /** The server could not be reached, or failed on its side (5xx), before it answered anything. */
  TRANSPORT: 3,
} as const;

export const DEPLOY_USAGE = `usage:
  npm run cli -- promote CHANNEL VERSION --reason R [--wait] [--override] [options]
  npm run cli -- rollback CHANNEL [VERSION] --reason R [--wait] [--override] [options]
  npm run cli -- wait ID [options]
options:
  --url URL           the app, e.g. https://scap-channels.example.org (default: $SCAP_CHANNELS_URL)
  --token-file FILE   file holding the API token (default: $SCAP_CHANNELS_TOKEN)
  --timeout SECONDS   stop waiting after this long, exit 1 (default ${3600})
exit status: 0 succeeded (without --wait: accepted); 1 failed, partial, cancelled, interrupted or timed out;
  2 refused by the server or bad arguments; 3 server unreachable or failing`;

const DEFAULT_TIMEOUT_S = 3600;
/** The server sends a keepalive every 15 s; this long without a byte means the stream is dead. */
const STREAM_IDLE_MS = 45_000;
/** A stream that lasted this long and then closed was ended by the server on purpose, not lost. */
const CLEAN_CLOSE_MS = 10_000;
/** A single request (the start, a poll); a plan downloads and checks the .deb, so be generous. */
const REQUEST_TIMEOUT_MS = 120_000;
const ENDED = new Set(["succeeded", "failed", "partial", "cancelled", "interrupted"]);

// ---------------------------------------------------------------------------------------------
// Arguments

export class UsageError extends Error {}

/** The variables read: SCAP_CHANNELS_URL and SCAP_CHANNELS_TOKEN. */
export type CliEnv = Record<string, string | undefined>;

const channelSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "CHANNEL is a channel name: lower-case letters, digits and dashes, e.g. canary");
const versionSchema = z
  .string()
  .max(200, "VERSION is too long")
  .regex(/^[0-9][A-Za-z0-9.+~:-]*$/, "VERSION is a Debian version, e.g. 4.81.0-1");
const reasonSchema = z
  .string({ error: "--reason R is required: one line for the !log" })
  .trim()
  .min(1, "--reason must not be empty")
  .max(500, "--reason is longer than 500 characters");
const idSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,9}$/, "ID is a deployment id, a positive number")
  .transform(Number)
  .refine((n) => n <= 2 ** 31 - 1, "ID is out of range");
const timeoutSchema = z
  .string()
  .regex(/^\d+(\.\d+)?$/, "--timeout is a number of seconds")
  .transform(Number)
  .refine((n) => n > 0 && n <= 7 * 86_400, "--timeout is between 0 and 604800 seconds")
  .optional();
const urlSchema = z
  .string({ error: "no server given: pass --url URL or set SCAP_CHANNELS_URL" })
  .min(1, "no server given: pass --url URL or set SCAP_CHANNELS_URL")
  .transform((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: "custom", message: "--url is not a URL, e.g. https://scap-channels.example.org" });
      return z.NEVER;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") ctx.addIssue({ code: "custom", message: "--url must be http:// or https://" });
    if (url.username || url.password) ctx.addIssue({ code: "custom", message: "--url must not carry a user or password; the token goes in --token-file" });
    if (url.search || url.hash) ctx.addIssue({ code: "custom", message: "--url must not carry a query or fragment" });
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    return url;
  });

export interface Connection {
  /** The app's base URL, ending in `/`. */
  url: URL;
  token: string;
  timeoutMs: number;
}

export type DeployCommand =
  | { kind: "promote"; channel: string; version: string; reason: string; override: boolean; wait: boolean; connection: Connection }
  | { kind: "rollback"; channel: string; version: string | null; reason: string; override: boolean; wait: boolean; connection: Connection }
  | { kind: "wait"; id: number; connection: Connection }
  | { kind: "help" };

const OPTIONS = {
  reason: { type: "string" },
  wait: { type: "boolean" },
  override: { type: "boolean" },
  url: { type: "string" },
  "token-file": { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function check<T>(schema: z.ZodType<T, string | undefined>, value: string | undefined): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(result.error.issues[0]?.message ?? "invalid argument");
  return result.data;
}

/** The token from the file (first line, trimmed) or the environment; the messages never contain it. */
function readToken(file: string | undefined, env: CliEnv, readText: (path: string) => string): string {
  let token: string;
  if (file !== undefined) {
    try {
      token = readText(file);
    } catch (e) {
      throw new UsageError(`cannot read --token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
    token = token.replace(/\r?\n$/, "").trim();
    if (!token) throw new UsageError(`--token-file ${file} is empty`);
  } else {
    token = (env.SCAP_CHANNELS_TOKEN ?? "").trim();
    if (!token) throw new UsageError("no token given: pass --token-file FILE or set SCAP_CHANNELS_TOKEN");
  }
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`the token${file !== undefined ? ` in ${file}` : ""} must be one word of printable ASCII`);
  return token;
}

function readFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, tokens: true, strict: true });
  } catch (e) {
    // Node's messages name the flag: "Unknown option '--foo'".
    throw new UsageError((e as Error).message);
  }
}

/**
 * The command line of `promote`, `rollback` or `wait` (argv starts with the command), validated:
 * unknown or repeated flags and flags that do not belong to the command are errors.
 */
export function parseDeployArgs(argv: string[], env: CliEnv = process.env, readText: (path: string) => string = (p) => readFileSync(p, "utf8")): DeployCommand {
  const { values, positionals, tokens } = readFlags(argv);
  if (values.help) return { kind: "help" };
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given twice`);
    seen.add(t.name);
  }
  const [command, ...args] = positionals;
  if (!isDeployCommand(command)) throw new UsageError(`unknown command ${command ?? ""}`.trim());

  const connection = (): Connection => ({
    url: check(urlSchema, values.url ?? (env.SCAP_CHANNELS_URL || undefined)),
    timeoutMs: (check(timeoutSchema, values.timeout) ?? DEFAULT_TIMEOUT_S) * 1000,
    token: readToken(values["token-file"], env, readText),
  });

  if (command === "wait") {
    for (const flag of ["reason", "override", "wait"] as const) {
      if (values[flag] !== undefined) throw new UsageError(`wait takes no --${flag}`);
    }
    if (args.length !== 1) throw new UsageError("wait takes one deployment ID");
    const id = check(idSchema, args[0]);
    return { kind: "wait", id, connection: connection() };
  }
  const [channelArg, versionArg, ...extra] = args;
  if (channelArg === undefined) throw new UsageError(`${command} needs a CHANNEL`);
  if (command === "promote" && versionArg === undefined) throw new UsageError("promote needs a CHANNEL and a VERSION");
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  const channel = check(channelSchema, channelArg);
  const version = versionArg === undefined ? null : check(versionSchema, versionArg);
  const reason = check(reasonSchema, values.reason);
  if (values.timeout !== undefined && !values.wait) throw new UsageError("--timeout applies to --wait only");
  const common = { channel, reason, override: values.override ?? false, wait: values.wait ?? false, connection: connection() };
  return command === "promote" ? { kind: "promote", version: version!, ...common } : { kind: "rollback", version, ...common };
}

// ---------------------------------------------------------------------------------------------
// Server-sent events

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

/**
 * An incremental parser of a text/event-stream body (the WHATWG rules): fed chunks as they arrive,
 * split anywhere — inside a UTF-8 sequence, a field or a CRLF — it returns the events they complete.
 */
export class SseParser {
  private readonly decoder = new TextDecoder("utf-8");
  private buffer = "";
  private started = false;
  /** The last chunk ended in CR: an LF at the start of the next one belongs to it. */
  private afterCR = false;
  private eventType = "";
  private dataLines: string[] | null = null;
  private lastId: string | null = null;

  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.afterCR && text.startsWith("\n")) text = text.slice(1);
    if (text.length > 0) this.afterCR = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A CR as the buffer's last character may be the first half of a CRLF: take the line, note it.
      if (m[0] === "\r" && m.index === this.buffer.length - 1) this.afterCR = true;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  /** The body ended: an event without its blank line is dropped, as the standard says. */
  end(): SseEvent[] {
    this.buffer += this.decoder.decode();
    this.buffer = "";
    this.dataLines = null;
    this.eventType = "";
    return [];
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      const data = this.dataLines;
      const type = this.eventType;
      this.dataLines = null;
      this.eventType = "";
      if (data === null) return null;
      return { event: type || "message", data: data.join("\n"), id: this.lastId };
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventType = value;
    else if (field === "data") (this.dataLines ??= []).push(value);
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    // `retry` and unknown fields: the reconnect delay here is our own.
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Progress lines

function seconds(from: string | null, to: string | null): string | null {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? `${(ms / 1000).toFixed(1)} s` : null;
}

function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The last lines a failed host wrote, for the job log. */
function outputTail(output: string, lines = 8): string[] {
  return output
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0)
    .slice(-lines)
    .map((l) => `    | ${l.length > 300 ? `${l.slice(0, 299)}…` : l}`);
}

function hostLine(t: DeploymentTargetView, width: number): string[] {
  const name = t.host.padEnd(width);
  const took = seconds(t.startedAt, t.finishedAt);
  switch (t.status) {
    case "running":
      return [`${name}  running  ${t.fromVersion ?? "(none)"} → ${t.toVersion}`];
    case "succeeded":
      return [`${name}  succeeded  ${t.reportedVersion ?? t.toVersion}${took ? ` (${took})` : ""}`];
    case "failed": {
      const why = t.error ? oneLine(t.error) : t.exitCode !== null ? `exit ${t.exitCode}` : "no reason recorded";
      return [`${name}  failed  ${t.errorKind ? `${t.errorKind}: ` : ""}${why}${took ? ` (${took})` : ""}`, ...outputTail(t.output)];
    }
    default:
      return [`${name}  ${t.status}${t.error ? `  ${oneLine(t.error)}` : ""}`];
  }
}

/** Turns successive states of one deployment into a line per host state change. */
export class HostProgress {
  private readonly seen = new Map<string, string>();

  update(d: DeploymentJson): string[] {
    const width = Math.max(0, ...d.targets.map((t) => t.host.length));
    const lines: string[] = [];
    for (const t of d.targets) {
      if (this.seen.get(t.host) === t.status) continue;
      // A host never leaves pending backwards; pending itself is not news.
      const first = !this.seen.has(t.host);
      this.seen.set(t.host, t.status);
      if (t.status === "pending" && first) continue;
      lines.push(...hostLine(t, width));
    }
    return lines;
  }
}

export function describeStart(d: DeploymentJson, base: URL): string {
  const what = d.kind === "rollback" ? `roll ${d.channel} back to ${d.version}` : `promote ${d.version} to ${d.channel}`;
  return `deployment ${d.id}: ${what}${d.fromVersion ? ` (from ${d.fromVersion})` : ""}, ${d.counts.total} host(s) — ${new URL(`deployments/${d.id}`, base).href}`;
}

export function summarize(d: DeploymentJson): string {
  const c = d.counts;
  const parts = [`${c.succeeded} succeeded`];
  for (const k of ["failed", "skipped", "cancelled", "interrupted", "running", "pending"] as const) if (c[k] > 0) parts.push(`${c[k]} ${k}`);
  const took = seconds(d.startedAt ?? d.createdAt, d.finishedAt);
  return `${d.status}: deployment ${d.id}, ${parts.join(", ")} of ${c.total} host(s)${took ? ` in ${took}` : ""}${d.error ? ` — ${oneLine(d.error)}` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** The server answered with a refusal: exit 2 with its message. */
export class RefusedError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No answer, a cut connection, or a failure on the server's side (5xx). */
export class TransportError extends Error {}

function transportMessage(e: unknown, url: URL): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError") return `${url.origin} did not answer in time`;
  const cause = err.cause?.message || err.cause?.code || err.message;
  return `${url.origin} cannot be reached: ${cause}`;
}

async function errorFrom(res: Response): Promise<Error> {
  const text = await res.text().catch(() => "");
  let code = `HTTP ${res.status}`;
  let message = oneLine(text, 300) || res.statusText;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not our JSON: a proxy's page, say; its first line is the message.
  }
  if (res.status >= 500) return new TransportError(`the server failed (${res.status} ${code}): ${message}`);
  return new RefusedError(res.status, code, message);
}

export class Api {
  constructor(private readonly connection: Connection) {}

  get base(): URL {
    return this.connection.url;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.connection.token}`, "user-agent": "scap-channels-cli", ...extra };
  }

  async send(method: "GET" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const url = new URL(path, this.base);
    try {
      return await fetch(url, {
        method,
        headers: this.headers(body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        redirect: "error",
      });
    } catch (e) {
      throw new TransportError(transportMessage(e, url));
    }
  }

  async json<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await this.send(method, path, body);
    if (!res.ok) throw await errorFrom(res);
    try {
      return { status: res.status, body: (await res.json()) as T };
    } catch {
      throw new TransportError(`${this.base.origin} answered ${res.status} with something that is not JSON`);
    }
  }

  deployment(id: number): Promise<DeploymentJson> {
    return this.json<DeploymentJson>("GET", `api/deployments/${id}`).then((r) => r.body);
  }

  /** Opens the event stream; the caller reads the body. */
  async events(id: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const url = new URL(`api/deployments/${id}/events`, this.base);
    let res: Response;
    try {
      res = await fetch(url, { headers: this.headers({ accept: "text/event-stream" }), signal, redirect: "error" });
    } catch (e) {
      throw new TransportError(transportMessage(e, url));
    }
    if (!res.ok) throw await errorFrom(res);
    if (!res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
      await res.body?.cancel().catch(() => {});
      throw new TransportError(`${url.origin} answered the event stream with ${res.headers.get("content-type") ?? "no content type"}`);
    }
    return res.body;
  }
}

// ---------------------------------------------------------------------------------------------
// Following a deployment to its end

export class WaitTimeout extends Error {}

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Follows one deployment to its end over its event stream, printing a line per host state change;
 * a dropped or silent stream is reopened (with a poll of the record in between), never waited on
 * forever. Returns the ended deployment; throws WaitTimeout at the deadline, RefusedError when the
 * server refuses (a token without deployments.read, an unknown id).
 */
export async function followDeployment(
  api: Api,
  id: number,
  deadline: number,
  io: Output,
  onState: (d: DeploymentJson) => void,
  initial: DeploymentJson | null = null,
): Promise<DeploymentJson> {
  let last: DeploymentJson | null = initial;
  let problem: string | null = null;
  let failures = 0;
  const seen = (d: DeploymentJson) => {
    last = d;
    onState(d);
    return ENDED.has(d.status);
  };
  for (;;) {
    if (Date.now() >= deadline) throw new WaitTimeout(problem ?? "");
    const opened = Date.now();
    let outcome: "ended" | "closed" | "failed";
    try {
      outcome = (await streamOnce(api, id, deadline, seen)) ? "ended" : "closed";
    } catch (e) {
      if (e instanceof RefusedError) throw e;
      if (Date.now() < deadline) problem = (e as Error).message;
      outcome = "failed";
    }
    if (outcome === "ended" && last) return last;
    // The server ends a stream after a few minutes (the viewer is checked again): reopen it at once.
    if (outcome === "closed" && Date.now() - opened >= CLEAN_CLOSE_MS) {
      failures = 0;
      continue;
    }
    if (Date.now() >= deadline) throw new WaitTimeout(problem ?? "");
    // The stream ended early or failed: read the record itself before opening it again.
    try {
      if (seen(await api.deployment(id))) return last!;
    } catch (e) {
      if (e instanceof RefusedError) throw e;
      // Nothing heard from the server yet: that is a transport problem, not a deployment to wait for.
      if (last === null) throw e;
      problem = (e as Error).message;
    }
    failures++;
    if (failures === 1 || failures % 10 === 0) io.err(`event stream of deployment ${id} lost${problem ? ` (${problem})` : ""}; reconnecting`);
    await sleep(Math.min(deadline - Date.now(), 500 * 2 ** Math.min(failures - 1, 4)));
  }
}

/** One connection to the event stream: true once a state shows the deployment ended. */
async function streamOnce(api: Api, id: number, deadline: number, seen: (d: DeploymentJson) => boolean): Promise<boolean> {
  const abort = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => abort.abort(new TransportError(`no data on the event stream for ${STREAM_IDLE_MS / 1000} s`)), STREAM_IDLE_MS);
  };
  const atDeadline = setTimeout(() => abort.abort(new TransportError("the wait timed out")), Math.max(0, deadline - Date.now()));
  arm();
  try {
    const body = await api.events(id, abort.signal);
    const reader = body.getReader();
    const parser = new SseParser();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch {
          throw abort.signal.aborted ? (abort.signal.reason as Error) : new TransportError("the event stream was cut");
        }
        if (chunk.done) {
          parser.end();
          return false;
        }
        arm();
        for (const ev of parser.push(chunk.value)) {
          if (ev.event === "state") {
            let d: DeploymentJson;
            try {
              d = JSON.parse(ev.data) as DeploymentJson;
            } catch {
              throw new TransportError("the event stream sent a state that is not JSON");
            }
            if (seen(d)) return true;
          } else if (ev.event === "end") {
            // The last state before `end` is the ended one; read the record in case it was missed.
            return seen(await api.deployment(id));
          } else if (ev.event === "error") {
            throw new TransportError(`the server's event stream failed: ${oneLine(ev.data, 200)}`);
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  } finally {
    clearTimeout(idle);
    clearTimeout(atDeadline);
    abort.abort();
  }
}

// ---------------------------------------------------------------------------------------------
// The commands

interface StartAnswer {
  deployment: DeploymentJson | null;
  salLine: string;
  warnings?: string[];
}

const stdio: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** Runs `promote`, `rollback` or `wait` (argv starts with the command) and returns the exit status. */
export async function runDeployCli(argv: string[], env: CliEnv = process.env, io: Output = stdio): Promise<number> {
  let command: DeployCommand;
  try {
    command = parseDeployArgs(argv, env);
  } catch (e) {
    io.err(`${(e as Error).message}\n${DEPLOY_USAGE}`);
    return EXIT.REFUSED;
  }
  if (command.kind === "help") {
    io.out(DEPLOY_USAGE);
    return EXIT.SUCCEEDED;
  }
  const api = new Api(command.connection);
  const deadline = Date.now() + command.connection.timeoutMs;
  let id: number;
  let salLine: string | null = null;
  let initial: DeploymentJson | null = null;
  const progress = new HostProgress();
  let announced = false;
  const onState = (d: DeploymentJson) => {
    if (!announced) {
      announced = true;
      if (command.kind === "wait") io.out(describeStart(d, api.base));
    }
    for (const line of progress.update(d)) io.out(line);
  };
  try {
    if (command.kind === "wait") {
      id = command.id;
    } else {
      const path = `api/channels/${encodeURIComponent(command.channel)}/${command.kind}`;
      const body =
        command.kind === "promote"
          ? { version: command.version, reason: command.reason, ...(command.override ? { override: true } : {}) }
          : { reason: command.reason, ...(command.version ? { version: command.version } : {}), ...(command.override ? { override: true } : {}) };
      const { body: started } = await api.json<StartAnswer>("POST", path, body);
      if (!started.deployment) throw new TransportError("the server accepted the deployment but did not say which it is");
      id = started.deployment.id;
      initial = started.deployment;
      salLine = started.salLine;
      io.out(describeStart(started.deployment, api.base));
      io.out(salLine);
      for (const w of started.warnings ?? []) io.out(`warning: ${w}`);
      if (!command.wait) return EXIT.SUCCEEDED;
    }
  } catch (e) {
    return reportFailure(e, io);
  }

  try {
    const ended = await followDeployment(api, id, deadline, io, onState, initial);
    io.out(summarize(ended));
    io.out(ended.salLine || salLine || "");
    return ended.status === "succeeded" ? EXIT.SUCCEEDED : EXIT.NOT_SUCCEEDED;
  } catch (e) {
    if (e instanceof WaitTimeout) {
      io.err(
        `timed out after ${command.connection.timeoutMs / 1000} s waiting for deployment ${id}; it goes on on the server (npm run cli -- wait ${id})${e.message ? `; last problem: ${e.message}` : ""}`,
      );
      return EXIT.NOT_SUCCEEDED;
    }
    if (e instanceof RefusedError && command.kind !== "wait") {
      // It started; only following it was refused (a token without deployments.read, say).
      const hint = e.status === 403 ? " (--wait needs a token with deployments.read)" : "";
      io.err(`deployment ${id} started, but following it was refused (${e.status} ${e.code}): ${e.message}${hint}`);
      return EXIT.REFUSED;
    }
    return reportFailure(e, io);
  }
}

function reportFailure(e: unknown, io: Output): number {
  if (e instanceof RefusedError) {
    io.err(`refused (${e.status} ${e.code}): ${e.message}`);
    return EXIT.REFUSED;
  }
  if (e instanceof TransportError) {
    io.err(`error: ${e.message}`);
    return EXIT.TRANSPORT;
  }
  io.err(`error: ${(e as Error).message}`);
  return EXIT.TRANSPORT;
}
