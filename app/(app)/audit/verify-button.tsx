"use client";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { callApi } from "@/app/_components/api-client";

/** Runs a verification of the audit hash chain now (admins), then shows the page's new verdict. */
export function VerifyButton({ disabledReason }: { disabledReason: string | null }) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [, startTransition] = useTransition();
  async function run() {
    setBusy(true);
    setError(null);
    try {
      await callApi("/api/audit/verify", { method: "POST", body: "{}" });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
      startTransition(() => router.refresh());
    }
  }
  return (
    <span className="inline-flex items-center gap-2">
      {error ? <span className="text-xs text-rose-600 dark:text-rose-400">{error}</span> : null}
      <button type="button" className="btn-secondary" data-testid="verify-button" onClick={run} disabled={busy || disabledReason !== null} title={disabledReason ?? undefined}>
        {busy ? "Verifying…" : "Verify now"}
      </button>
    </span>
  );
}
