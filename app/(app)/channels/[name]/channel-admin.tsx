"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import type { ChannelPolicyView } from "@/lib/deploy/policy-types";
import { callApi } from "../../../_components/api-client";

/** Freeze / unfreeze and pause / resume following, for admins; greyed with the reason for others. */
export function ChannelAdmin({ channel, policy, deniedReason }: { channel: string; policy: ChannelPolicyView; deniedReason: string | null }) {
  const router = useRouter();
  const [reason, setReason] = useState("");
  const [until, setUntil] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function call(path: string, body: unknown) {
    setBusy(true);
    setError(null);
    try {
      await callApi(`/api/channels/${encodeURIComponent(channel)}/${path}`, { method: "POST", body: JSON.stringify(body) });
      setReason("");
      setUntil("");
      router.refresh();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const disabled = busy || deniedReason !== null;
  return (
    <div className="space-y-3 text-sm">
      {policy.freeze ? (
        <button type="button" className="btn-secondary" disabled={disabled} title={deniedReason ?? undefined} onClick={() => void call("unfreeze", {})} data-testid="unfreeze-button">
          Lift the freeze
        </button>
      ) : (
        <form
          className="flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            void call("freeze", { reason, ...(until ? { until: new Date(until).toISOString() } : {}) });
          }}
        >
          <label className="min-w-48 flex-1">
            <span className="mb-1 block text-xs uppercase tracking-wide text-slate-500">Freeze reason</span>
            <input className="input w-full" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} placeholder="deployment window, incident …" disabled={disabled} data-testid="freeze-reason" />
          </label>
          <label>
            <span className="mb-1 block text-xs uppercase tracking-wide text-slate-500">Until (optional)</span>
            <input className="input" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} disabled={disabled} />
          </label>
          <button type="submit" className="btn-secondary" disabled={disabled || reason.trim() === ""} title={deniedReason ?? undefined} data-testid="freeze-button">
            Freeze
          </button>
        </form>
      )}
      {policy.follow ? (
        <button type="button" className="btn-secondary" disabled={disabled} title={deniedReason ?? undefined} onClick={() => void call("follow", { paused: policy.followPaused === null })} data-testid="follow-toggle">
          {policy.followPaused ? "Resume following new builds" : "Pause following new builds"}
        </button>
      ) : null}
      {deniedReason ? <p className="text-xs text-slate-500">{deniedReason}</p> : null}
      {error ? (
        <p className="text-rose-600" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
