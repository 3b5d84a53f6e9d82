// A channel's policy state in a few words: following, frozen, the bake of its newest build.
import Link from "next/link";
import type { ChannelPolicyView } from "@/lib/deploy/policy-types";
import { Countdown } from "./countdown";
import { Badge, formatUtc } from "./ui";

export function PolicyBadges({ policy }: { policy: ChannelPolicyView }) {
  return (
    <span className="inline-flex flex-wrap gap-1">
      {policy.freeze ? (
        <Badge tone="red" title={`${policy.freeze.reason} (by ${policy.freeze.by}${policy.freeze.until ? `, until ${formatUtc(policy.freeze.until, { minutes: true })}` : ""})`}>
          frozen
        </Badge>
      ) : null}
      {policy.follow ? <Badge tone={policy.followPaused ? "slate" : "indigo"}>{policy.followPaused ? "following paused" : "follows new builds"}</Badge> : null}
      {policy.bakeMinutes !== null ? <Badge tone="slate">bakes {policy.bakeMinutes} min</Badge> : null}
    </span>
  );
}

export function BakeState({ policy, detailed = false }: { policy: ChannelPolicyView; detailed?: boolean }) {
  const b = policy.bake;
  if (policy.bakeMinutes === null && !b) return null;
  if (!b) return <p className="text-xs text-slate-500">No build has baked here yet.</p>;
  return (
    <div className="text-sm" data-testid="bake-state" data-status={b.status}>
      <p>
        {b.status === "baking" ? (
          <>
            <Badge tone="amber">baking</Badge> <span className="mono break-all">{b.version}</span> · <Countdown until={b.endsAt} done="checking one last time" />
          </>
        ) : b.status === "passed" ? (
          <>
            <Badge tone="green">baked</Badge> <span className="mono break-all">{b.version}</span> passed {b.checks} check(s)
          </>
        ) : b.status === "failed" ? (
          <>
            <Badge tone="red">bake failed</Badge> <span className="mono break-all">{b.version}</span>
          </>
        ) : (
          <>
            <Badge tone="slate">superseded</Badge> <span className="mono break-all">{b.version}</span>
          </>
        )}{" "}
        <Link className="text-xs text-indigo-600 hover:underline dark:text-indigo-400" href={`/deployments/${b.deploymentId}`}>
          deployment {b.deploymentId}
        </Link>
      </p>
      {b.error ? <p className="mt-1 text-xs text-rose-700 dark:text-rose-400">{b.error}</p> : null}
      {detailed && b.lastResults.length > 0 ? (
        <ul className="mt-2 space-y-0.5 text-xs">
          {b.lastResults.map((r) => (
            <li key={r.host}>
              <span className={r.ok ? "text-emerald-700 dark:text-emerald-400" : "text-rose-700 dark:text-rose-400"}>{r.ok ? "✓" : "✗"}</span> {r.host}
              {r.error ? <span className="text-slate-500"> — {r.error}</span> : null}
            </li>
          ))}
          {b.lastCheckAt ? <li className="text-slate-500">last check {formatUtc(b.lastCheckAt)}</li> : null}
        </ul>
      ) : null}
    </div>
  );
}
