import type { RepositoryView } from "@/lib/client-types";
import { Badge, Time } from "./ui";

const ERROR_TEXT: Record<string, string> = {
  "bad-signature": "bad signature",
  "unknown-key": "signed by an unknown key",
  "hash-mismatch": "hash mismatch",
  expired: "expired",
  unreachable: "unreachable",
  "parse-error": "unparseable",
  "too-large": "too large",
  "not-found": "not found",
};

/** The repository's trust state: last verified read, signer, last error. */
export function RepositoryStatus({ repo, now }: { repo: RepositoryView; now: Date }) {
  const failing = repo.lastErrorAt !== null && (!repo.lastSuccessAt || repo.lastErrorAt > repo.lastSuccessAt);
  return (
    <section className="card mb-5 p-4" aria-label="Repository status" data-testid="repository-status">
      <div className="flex flex-wrap items-center gap-x-6 gap-y-2 text-sm">
        <div className="flex items-center gap-2">
          <span className="font-semibold">Repository</span>
          {repo.lastSuccessAt === null && !failing ? (
            <Badge>not read yet</Badge>
          ) : failing ? (
            <Badge tone="red">{ERROR_TEXT[repo.lastErrorKind ?? ""] ?? "error"}</Badge>
          ) : repo.unsigned ? (
            <Badge tone="amber" title="repository.unsigned is true in the configuration: its index is read without a signature check.">
              unsigned: not verified
            </Badge>
          ) : (
            <Badge tone="green">verified</Badge>
          )}
        </div>
        <div className="mono min-w-0 truncate text-slate-600 dark:text-slate-300" title={repo.source ?? undefined}>
          {repo.url}
        </div>
        <div>
          <span className="text-slate-500">Last verified read </span>
          <Time at={repo.lastSuccessAt} now={now} />
        </div>
        <div className="min-w-0">
          <span className="text-slate-500">Signed by </span>
          <code className="mono break-all">{repo.signerKey ?? "—"}</code>
        </div>
        {repo.validUntil ? (
          <div>
            <span className="text-slate-500">Valid until </span>
            <Time at={repo.validUntil} now={now} />
          </div>
        ) : null}
      </div>
      {repo.lastError ? (
        <p role={failing ? "alert" : undefined} className={`mt-3 text-sm ${failing ? "text-rose-700 dark:text-rose-300" : "text-slate-500"}`} data-testid="repository-error">
          {failing ? "Last read failed" : "An earlier read failed"} (<Time at={repo.lastErrorAt} now={now} />): {repo.lastError}
          {failing ? " The build list below is the last verified one." : null}
        </p>
      ) : null}
    </section>
  );
}
