import "server-only";
import { AUDIT_PAYLOADS, type AuditAction, type AuditPayload } from "./log";

// Each audit event in words, one summariser per action, e.g. "demo promoted 4.81.0-1 to canary:
// 1 host, succeeded". The words are built from segments so the page can link deployments,
// builds, hosts and channels; the API and the export get the plain text.

export type Segment = string | { text: string; href: string };

/** What the page knows of the deployments its events name (who started one, how it stands). */
export type DeploymentContext = Map<number, { kind: string; status: string; actorName: string; hosts: number }>;

export interface SummaryInput {
  actor: string;
  action: string;
  target: string | null;
  payload: unknown;
}

type Summariser<A extends AuditAction> = (p: AuditPayload<A>, e: SummaryInput, ctx: DeploymentContext) => Segment[];

const link = (text: string, href: string): Segment => ({ text, href });
const deployment = (id: number) => link(`#${id}`, `/deployments/${id}`);
const channel = (name: string) => link(name, `/channels/${encodeURIComponent(name)}`);
const build = (version: string) => link(version, `/builds#build-${encodeURIComponent(version)}`);
const host = (name: string) => link(name, `/hosts#host-${encodeURIComponent(name)}`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "a, b and 3 more", each a segment. */
function list(items: string[], make: (s: string) => Segment = (s) => s, max = 3): Segment[] {
  const out: Segment[] = [];
  items.slice(0, max).forEach((item, i) => {
    if (i > 0) out.push(i === Math.min(items.length, max) - 1 && items.length <= max ? " and " : ", ");
    out.push(make(item));
  });
  if (items.length > max) out.push(` and ${items.length - max} more`);
  return out;
}

function quote(s: string, max = 120): string {
  const clipped = s.length > max ? `${s.slice(0, max - 1)}…` : s;
  return `“${clipped}”`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 90 ? `${s} s` : `${Math.round(s / 60)} min`;
}

const SUMMARIES: { [A in AuditAction]?: Summariser<A> } = {
  "builds.refresh": (p, e) => {
    // A person whose request joined a read already running: the outcome is that read's.
    const who = p.joined ? `${e.actor} joined a repository read already running, which` : e.actor;
    if (!p.ok) return [`${who} could not read the repository`, p.errorKind ? ` (${p.errorKind})` : "", p.error ? `: ${p.error}` : ""];
    const parts: Segment[][] = [];
    if (p.added?.length) parts.push([`${plural(p.added.length, "new build")} (`, ...list(p.added, build), ")"]);
    if (p.removed?.length) parts.push([`${plural(p.removed.length, "build")} leave the index (`, ...list(p.removed, build), ")"]);
    if (p.rebuilt?.length) parts.push([`${plural(p.rebuilt.length, "build")} rebuilt with the same version (`, ...list(p.rebuilt, build), ")"]);
    if (parts.length === 0) return [`${who} read the repository: no change in builds`];
    return [`${who} saw `, ...parts.flatMap((seg, i) => (i === 0 ? seg : ["; ", ...seg]))];
  },
  "hosts.refresh": (p, e) => {
    const who = p.joined ? `${e.actor} joined a probe already running, which` : e.actor;
    const counts = [`${p.ok} ok`, p.notInstalled ? `${p.notInstalled} without scap` : "", p.unreachable ? `${p.unreachable} unreachable` : "", p.unknown ? `${p.unknown} unknown` : ""].filter(Boolean);
    const out: Segment[] = [`${who} probed ${plural(p.hosts, "host")}: ${counts.join(", ")}`];
    p.changed.slice(0, 3).forEach((c, i) => out.push(i === 0 ? "; " : ", ", host(c.host), ` ${c.from ?? "nothing"} → ${c.to ?? "nothing"}`));
    if (p.changed.length > 3) out.push(` and ${p.changed.length - 3} more changed`);
    if (p.busy?.length) out.push(`; skipped ${plural(p.busy.length, "host")} a deployment held (`, ...list(p.busy.map((b) => b.host), host), ")");
    return out;
  },
  "inventory.sync": (p, e) => {
    const parts: Segment[][] = [];
    if (p.added.length) parts.push(["added ", ...list(p.added, host)]);
    if (p.removed.length) parts.push(["removed ", ...list(p.removed)]);
    if (p.updated.length) parts.push(["changed the address of ", ...list(p.updated, host)]);
    if (parts.length === 0) return [`${e.actor} synced the inventory with the config: no host changed`];
    return [`${e.actor} synced the inventory with the config: `, ...parts.flatMap((seg, i) => (i === 0 ? seg : ["; ", ...seg]))];
  },
  "deployment.start": (p, e, ctx) => {
    const d = ctx.get(p.deploymentId);
    const hosts = plural(p.hosts.length, "host");
    const outcome = d ? `, ${d.status}` : "";
    const head: Segment[] =
      p.kind === "rollback"
        ? [`${e.actor} rolled `, channel(p.channel), " back to ", build(p.version), `: ${hosts}${outcome}`]
        : [`${e.actor} promoted `, build(p.version), " to ", channel(p.channel), `: ${hosts}${outcome}`];
    return [
      ...head,
      " (",
      deployment(p.deploymentId),
      p.fromVersion ? `, from ${p.fromVersion}` : "",
      p.override ? ", past the channel's gate" : "",
      ")",
      ...(p.retryOf ? [", retrying ", deployment(p.retryOf)] : []),
      ` — ${quote(p.reason)}`,
    ];
  },
  "deployment.finish": (p, _e, ctx) => {
    const d = ctx.get(p.deploymentId);
    const what = d ? `${d.actorName}'s ${d.kind === "rollback" ? "rollback of" : "promotion of"}` : "deployment of";
    const counts = [`${p.succeeded} succeeded`, p.failed ? `${p.failed} failed` : "", p.skipped ? `${p.skipped} skipped` : "", p.cancelled ? `${p.cancelled} cancelled` : ""].filter(Boolean);
    return [
      `${what} `,
      build(p.version),
      " to ",
      channel(p.channel),
      " (",
      deployment(p.deploymentId),
      `) ended ${p.status}: ${counts.join(", ")} in ${duration(p.durationMs)}`,
      ...(p.notOnVersion.length ? ["; not on the version: ", ...list(p.notOnVersion.map((h) => h.host), host)] : []),
    ];
  },
  "deployment.cancel": (p, e) => [`${e.actor} cancelled `, deployment(p.deploymentId), " (", build(p.version), " to ", channel(p.channel), ")"],
  "deployment.interrupted": (p, e) => [
    `${e.actor} found `,
    deployment(p.deploymentId),
    " (",
    build(p.version),
    " to ",
    channel(p.channel),
    ") interrupted: its runner stopped",
    ...(p.running.length ? [` while ${plural(p.running.length, "host was", "hosts were")} installing (`, ...list(p.running, host), ")"] : []),
  ],
  "channel.freeze": (p, e) => [`${e.actor} froze `, channel(p.channel), p.until ? ` until ${p.until.replace("T", " ").slice(0, 16)} UTC` : "", ` — ${quote(p.reason)}`],
  "channel.unfreeze": (p, e) => [`${e.actor} unfroze `, channel(p.channel), p.frozenBy ? ` (frozen by ${p.frozenBy}${p.reason ? `: ${quote(p.reason)}` : ""})` : ""],
  "channel.follow": (p, e) => [`${e.actor} ${p.paused ? "paused" : "resumed"} following the newest build on `, channel(p.channel)],
  "bake.passed": (p, e) => [
    `${e.actor}: the bake of `,
    build(p.version),
    " on ",
    channel(p.channel),
    " (",
    deployment(p.deploymentId),
    `) passed, ${plural(p.checks, "check")} over ${p.minutes} min`,
  ],
  "bake.failed": (p, e) => {
    const failed = p.hosts.filter((h) => !h.ok).map((h) => h.host);
    return [
      `${e.actor}: the bake of `,
      build(p.version),
      " on ",
      channel(p.channel),
      " (",
      deployment(p.deploymentId),
      `) failed: ${p.error}`,
      ...(failed.length ? ["; failing: ", ...list(failed, host)] : []),
      p.rollback ? "; rolling back" : "",
    ];
  },
  "user.add": (p, e) => [`${e.actor} saved user ${e.target ?? "?"} as ${p.role}`],
  "user.disable": (_p, e) => [`${e.actor} disabled user ${e.target ?? "?"}`],
  "user.role": (p, e) => [`${e.actor} changed the role of ${e.target ?? "?"} from ${p.from} to ${p.to}`],
  "user.signin": (p, e) => [
    `${e.actor} signed in`,
    p.method === "oidc" ? " through the identity provider" : "",
    p.role ? ` as ${p.role}` : "",
    p.previousRole && p.previousRole !== p.role ? ` (was ${p.previousRole})` : "",
  ],
  "user.signin-failed": (p, e) => [
    `${e.actor} failed to sign in as ${quote(p.attemptedName, 40)}: ${SIGNIN_FAILURES[p.reason]}`,
    p.failures > 1 ? ` (${plural(p.failures, "failure")} in this window)` : "",
    p.paused ? "; further attempts are paused" : "",
  ],
  "token.create": (p, e) => {
    const limits = [
      p.channels ? `channels ${p.channels.join(", ")}` : "",
      p.permissions ? `permissions ${p.permissions.join(", ")}` : "",
      p.expiresAt ? `until ${p.expiresAt.slice(0, 10)}` : "",
    ].filter(Boolean);
    return [`${e.actor} created API token ${quote(p.tokenName)} (${p.prefix}…) for ${e.target ?? "?"}`, limits.length ? `, limited to ${limits.join("; ")}` : ""];
  },
  "token.revoke": (p, e) => [`${e.actor} revoked API token ${quote(p.tokenName)} (${p.prefix}…) of ${e.target ?? "?"}`],
  "auth.refused": (p, e) => [
    `${e.actor} was refused `,
    p.permission ?? `${p.method} ${p.route}`,
    ...(p.channel ? [" on ", channel(p.channel)] : []),
    p.permission && REFUSALS_WITHOUT_DETAIL.has(p.reason) ? "" : `: ${p.reason}${p.token?.state ? ` (token ${p.token.prefix}… ${p.token.state})` : ""}`,
    p.count > 1 ? ` (${ordinal(p.count)} time in this window)` : "",
    p.capped ? "; further refusals are only counted" : "",
  ],
};

const SIGNIN_FAILURES: Record<string, string> = {
  password: "wrong name or password",
  throttled: "paused after too many failures",
  "no-role": "in no group that maps to a role",
  disabled: "the user is disabled",
  "name-taken": "the name belongs to another account",
};

// Refusals whose permission (and channel) already say why.
const REFUSALS_WITHOUT_DETAIL = new Set(["role", "token-permission", "token-channel", "token-no-channel", "token-admin"]);

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${s}`;
}

/** The actions with a summariser of their own (the others get a general sentence). */
export function summarisedActions(): string[] {
  return Object.keys(SUMMARIES);
}

/** For an action without a summariser: who, what, on which target, and a refusal's permission. */
function generalSummary(e: SummaryInput): Segment[] {
  const p = (e.payload && typeof e.payload === "object" ? e.payload : {}) as Record<string, unknown>;
  const str = (k: string) => (typeof p[k] === "string" ? (p[k] as string) : null);
  const permission = str("permission");
  const on: Segment[] = str("channel") ? [" on ", channel(str("channel")!)] : e.target ? [` on ${e.target}`] : [];
  if (/refused|denied/.test(e.action) && permission) return [`${e.actor} was refused ${permission}`, ...on, str("reason") ? `: ${str("reason")}` : ""];
  return [`${e.actor}: ${e.action}`, ...on];
}

export function summarizeEvent(e: SummaryInput, ctx: DeploymentContext = new Map()): Segment[] {
  const summarise = SUMMARIES[e.action as AuditAction] as Summariser<AuditAction> | undefined;
  const schema = AUDIT_PAYLOADS[e.action as AuditAction];
  if (summarise && schema) {
    const parsed = schema.safeParse(e.payload);
    if (parsed.success) return summarise(parsed.data as AuditPayload<AuditAction>, e, ctx).filter((s) => s !== "");
  }
  return generalSummary(e);
}

export function summaryText(segments: Segment[]): string {
  return segments.map((s) => (typeof s === "string" ? s : s.text)).join("");
}
