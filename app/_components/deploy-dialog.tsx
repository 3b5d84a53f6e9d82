"use client";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import type { DeploymentPlan, PlanHost } from "@/lib/deploy/plan-types";
import { callApi } from "./api-client";

interface Props {
  kind: "promote" | "rollback";
  channel: string;
  /** The version to deploy (for a rollback: the channel's previous good version). */
  version: string;
  /** Why the button is greyed, or null. */
  disabledReason: string | null;
  /** An admin may start past a refusing gate. */
  canOverride: boolean;
  label?: string;
  compact?: boolean;
}

/**
 * The Promote / Roll back button and its confirmation: the plan the server will run (hosts that
 * change and from which versions, batches, gate, warnings), a reason, then the start.
 */
export function DeployButton({ kind, channel, version, disabledReason, canOverride, label, compact }: Props) {
  const router = useRouter();
  const dialog = useRef<HTMLDialogElement>(null);
  const [plan, setPlan] = useState<DeploymentPlan | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const [override, setOverride] = useState(false);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);
  // Rendered only while open: a table of builds has a button per build and channel.
  const [isOpen, setIsOpen] = useState(false);

  useEffect(() => {
    if (isOpen && !dialog.current?.open) dialog.current?.showModal();
  }, [isOpen]);

  async function open() {
    setPlan(null);
    setLoadError(null);
    setStartError(null);
    setOverride(false);
    setIsOpen(true);
    try {
      const r = await callApi<{ plan: DeploymentPlan }>(`/api/channels/${encodeURIComponent(channel)}/plan`, { method: "POST", body: JSON.stringify({ version, kind }) });
      setPlan(r.plan);
    } catch (e) {
      setLoadError((e as Error).message);
    }
  }

  async function start(e: React.FormEvent) {
    e.preventDefault();
    setStarting(true);
    setStartError(null);
    try {
      const body = kind === "rollback" ? { reason, version, ...(override ? { override } : {}) } : { version, reason, ...(override ? { override } : {}) };
      const r = await callApi<{ deployment: { id: number } }>(`/api/channels/${encodeURIComponent(channel)}/${kind}`, { method: "POST", body: JSON.stringify(body) });
      dialog.current?.close();
      router.push(`/deployments/${r.deployment.id}`);
    } catch (err) {
      setStartError((err as Error).message);
    } finally {
      setStarting(false);
    }
  }

  // An admin may go past a gate or a freeze; nothing else.
  const gateOnly = plan !== null && plan.refusals.length > 0 && plan.refusals.every((r) => r.code === "gate" || r.code === "frozen");
  const blocked = plan === null || (plan.refusals.length > 0 && !(gateOnly && canOverride && override));
  const verb = kind === "rollback" ? "Roll back" : "Promote";
  const title = kind === "rollback" ? `Roll back ${channel} to ${version}` : `Promote ${version} to ${channel}`;

  return (
    <>
      <button
        type="button"
        className={`${kind === "rollback" ? "btn-secondary" : "btn-primary"} ${compact ? "px-2 py-1 text-xs" : ""}`}
        disabled={disabledReason !== null}
        title={disabledReason ?? title}
        onClick={() => void open()}
        data-testid={`${kind}-button`}
        data-channel={channel}
        data-version={version}
      >
        {label ?? `${verb} to ${channel}`}
      </button>
      {disabledReason && !compact ? <span className="text-xs text-slate-500" data-testid={`${kind}-disabled-reason`}>{disabledReason}</span> : null}
      {isOpen ? (
      <dialog ref={dialog} onClose={() => setIsOpen(false)} className="card m-auto w-[min(44rem,calc(100vw-2rem))] whitespace-normal p-0 text-left backdrop:bg-slate-900/50" aria-label={title} data-testid="deploy-dialog">
        <form onSubmit={(e) => void start(e)} className="flex max-h-[85vh] flex-col">
          <header className="border-b border-slate-200 px-5 py-3 dark:border-slate-800">
            <h2 className="font-semibold">{title}</h2>
            {plan?.fromVersion ? (
              <p className="mt-0.5 text-xs text-slate-500">
                {channel} runs <span className="mono">{plan.fromVersion}</span> now
                {plan.changesUrl ? (
                  <>
                    {" · "}
                    <a className="text-indigo-600 hover:underline dark:text-indigo-400" href={plan.changesUrl} target="_blank" rel="noreferrer" data-testid="changes-link">
                      changes since the version on this channel
                    </a>
                  </>
                ) : null}
              </p>
            ) : null}
          </header>
          <div className="flex-1 space-y-4 overflow-y-auto px-5 py-4 text-sm">
            {loadError ? <p className="text-rose-600" role="alert">{loadError}</p> : null}
            {!plan && !loadError ? <p className="text-slate-500">Reading the plan…</p> : null}
            {plan ? <PlanView plan={plan} /> : null}
            {plan && gateOnly && canOverride ? (
              <label className="flex items-start gap-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-amber-900 dark:border-amber-500/40 dark:bg-amber-500/10 dark:text-amber-200">
                <input type="checkbox" checked={override} onChange={(e) => setOverride(e.target.checked)} className="mt-0.5" data-testid="override" />
                <span>Override {plan.refusals.some((r) => r.code === "frozen") ? "the freeze" : "the gate"} as an admin (recorded as an override, with your reason).</span>
              </label>
            ) : null}
            <label className="block">
              <span className="mb-1 block font-medium">Reason</span>
              <textarea
                required
                maxLength={500}
                rows={2}
                value={reason}
                onChange={(e) => setReason(e.target.value.replace(/[\r\n]+/g, " "))}
                placeholder={kind === "rollback" ? "What went wrong (goes into the log line and the audit)" : "Why this build goes out now (goes into the log line and the audit)"}
                className="input w-full"
                data-testid="reason"
              />
            </label>
            {startError ? <p className="text-rose-600" role="alert" data-testid="start-error">{startError}</p> : null}
          </div>
          <footer className="flex justify-end gap-2 border-t border-slate-200 px-5 py-3 dark:border-slate-800">
            <button type="button" className="btn-secondary" onClick={() => dialog.current?.close()}>
              Close
            </button>
            <button type="submit" className="btn-primary" disabled={blocked || starting || reason.trim() === ""} data-testid="confirm-deploy">
              {starting ? "Starting…" : `${verb} ${plan ? `${plan.change.length + plan.unreachable.length + plan.already.length} host(s)` : ""}`}
            </button>
          </footer>
        </form>
      </dialog>
      ) : null}
    </>
  );
}

function PlanView({ plan }: { plan: DeploymentPlan }) {
  const hosts: (PlanHost & { what: string })[] = [
    ...plan.change.map((h) => ({ ...h, what: "changes" })),
    ...plan.unreachable.map((h) => ({ ...h, what: h.status })),
    ...plan.already.map((h) => ({ ...h, what: "already there" })),
  ].sort((a, b) => a.batch - b.batch || a.host.localeCompare(b.host));
  return (
    <div className="space-y-3" data-testid="plan">
      {plan.refusals.length > 0 ? (
        <ul className="space-y-1 rounded-md border border-rose-300 bg-rose-50 p-2 text-rose-900 dark:border-rose-500/40 dark:bg-rose-500/10 dark:text-rose-200" role="alert" data-testid="plan-refusals">
          {plan.refusals.map((r) => (
            <li key={r.code + r.message}>{r.message}</li>
          ))}
        </ul>
      ) : null}
      <p data-testid="plan-summary">
        <strong>{plan.change.length}</strong> host(s) change, <strong>{plan.already.length}</strong> already run it
        {plan.unreachable.length ? (
          <>
            , <strong className="text-amber-700 dark:text-amber-400">{plan.unreachable.length}</strong> not reachable at the last probe
          </>
        ) : null}
        . {plan.batches.length} batch(es) of up to {plan.batchSize}; the run stops starting hosts after {plan.maxFailures === 0 ? "the first failure" : `more than ${plan.maxFailures} failure(s)`}.
      </p>
      <p className="text-xs text-slate-500">
        Gate: {plan.gate.requires ? (plan.gate.ok ? `passed (the build succeeded on ${plan.gate.requires})` : "refused") : "none"} · .deb:{" "}
        {plan.download ? (plan.download.ok ? "downloaded and matches the signed index" : "does not verify") : "not checked"}
      </p>
      {plan.warnings.length > 0 ? (
        <ul className="list-disc space-y-1 pl-5 text-amber-800 dark:text-amber-300" data-testid="plan-warnings">
          {plan.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      ) : null}
      <div className="table-wrap max-h-64 overflow-y-auto rounded border border-slate-200 dark:border-slate-800">
        <table className="data">
          <thead>
            <tr>
              <th>Batch</th>
              <th>Host</th>
              <th>From</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {hosts.map((h) => (
              <tr key={h.host} data-testid="plan-host">
                <td className="tabular-nums">{h.batch + 1}</td>
                <td>{h.host}</td>
                <td className="mono break-all">{h.from ?? "—"}</td>
                <td className="whitespace-nowrap">{h.what}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
