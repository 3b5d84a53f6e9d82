"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import type { TokenJson } from "@/lib/auth/token-json";
import { callApi } from "../../../_components/api-client";
import { CopyButton } from "../../../_components/copy-button";
import { Badge, formatUtc, relativeTime } from "../../../_components/ui";

interface Props {
  tokens: TokenJson[];
  users: { name: string; role: string; permissions: string[] }[];
  channels: string[];
  permissions: string[];
  renderedAt: string;
}

const EXPIRIES = [
  { value: "", label: "never" },
  { value: "7d", label: "in 7 days" },
  { value: "30d", label: "in 30 days" },
  { value: "90d", label: "in 90 days" },
  { value: "365d", label: "in a year" },
];

function When({ at, now }: { at: string | null; now: Date }) {
  if (!at) return <span className="text-slate-400">never</span>;
  return (
    <time dateTime={at} title={formatUtc(at)}>
      {relativeTime(new Date(at), now)}
    </time>
  );
}

function tokenState(t: TokenJson, now: Date): { label: string; tone: "green" | "red" | "slate" } {
  if (t.revokedAt) return { label: "revoked", tone: "red" };
  if (t.expiresAt && new Date(t.expiresAt) <= now) return { label: "expired", tone: "slate" };
  return { label: "active", tone: "green" };
}

export function TokensAdmin({ tokens, users, channels, permissions, renderedAt }: Props) {
  const router = useRouter();
  const now = new Date(renderedAt);
  const [user, setUser] = useState(users[0]?.name ?? "");
  const [name, setName] = useState("");
  const [chosenChannels, setChosenChannels] = useState<string[]>([]);
  const [chosenPermissions, setChosenPermissions] = useState<string[]>([]);
  const [expires, setExpires] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ token: string; prefix: string; user: string } | null>(null);
  const rolePermissions = users.find((u) => u.name === user)?.permissions ?? [];

  const toggle = (list: string[], set: (v: string[]) => void, value: string) => set(list.includes(value) ? list.filter((v) => v !== value) : [...list, value]);

  async function create(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const r = await callApi<{ token: string; info: TokenJson }>("/api/tokens", {
        method: "POST",
        body: JSON.stringify({
          user,
          name,
          channels: chosenChannels.length ? chosenChannels : null,
          permissions: chosenPermissions.length ? chosenPermissions : null,
          expires: expires || null,
        }),
      });
      setCreated({ token: r.token, prefix: r.info.prefix, user: r.info.user });
      setName("");
      setChosenChannels([]);
      setChosenPermissions([]);
      router.refresh();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  async function revoke(t: TokenJson) {
    if (!window.confirm(`Revoke token ${t.prefix}… of ${t.user}? Scripts using it stop working at once.`)) return;
    setError(null);
    try {
      await callApi(`/api/tokens/${t.id}/revoke`, { method: "POST", body: "{}" });
      router.refresh();
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <div className="space-y-5">
      <form onSubmit={(e) => void create(e)} className="card space-y-3 px-4 py-3" aria-label="New token">
        <h2 className="font-medium">New token</h2>
        <div className="flex flex-wrap gap-3">
          <label className="text-sm">
            <span className="mb-1 block text-xs font-medium text-slate-500">User</span>
            <select className="input" value={user} onChange={(e) => setUser(e.target.value)} name="user">
              {users.map((u) => (
                <option key={u.name} value={u.name}>
                  {u.name} ({u.role})
                </option>
              ))}
            </select>
          </label>
          <label className="text-sm">
            <span className="mb-1 block text-xs font-medium text-slate-500">Label</span>
            <input className="input" required maxLength={60} value={name} onChange={(e) => setName(e.target.value)} name="name" placeholder="ci-canary" />
          </label>
          <label className="text-sm">
            <span className="mb-1 block text-xs font-medium text-slate-500">Expires</span>
            <select className="input" value={expires} onChange={(e) => setExpires(e.target.value)} name="expires">
              {EXPIRIES.map((x) => (
                <option key={x.value} value={x.value}>
                  {x.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        <fieldset className="text-sm">
          <legend className="mb-1 text-xs font-medium text-slate-500">Channels (none ticked: every channel)</legend>
          <div className="flex flex-wrap gap-3">
            {channels.map((c) => (
              <label key={c} className="inline-flex items-center gap-1">
                <input type="checkbox" checked={chosenChannels.includes(c)} onChange={() => toggle(chosenChannels, setChosenChannels, c)} />
                {c}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset className="text-sm">
          <legend className="mb-1 text-xs font-medium text-slate-500">Permissions (none ticked: the user&apos;s role; never more than it)</legend>
          <div className="flex flex-wrap gap-3">
            {permissions.map((p) => {
              const beyond = !rolePermissions.includes(p) || (p === "admin" && chosenChannels.length > 0);
              return (
                <label key={p} className={`inline-flex items-center gap-1 ${beyond ? "opacity-50" : ""}`} title={beyond ? "Beyond what this token may carry" : undefined}>
                  <input type="checkbox" disabled={beyond} checked={chosenPermissions.includes(p)} onChange={() => toggle(chosenPermissions, setChosenPermissions, p)} />
                  <span className="mono">{p}</span>
                </label>
              );
            })}
          </div>
        </fieldset>
        <div className="flex items-center gap-3">
          <button type="submit" className="btn-primary" disabled={busy || !user || !name.trim()}>
            {busy ? "Creating…" : "Create token"}
          </button>
          {error ? (
            <span role="alert" className="text-sm text-rose-600 dark:text-rose-400">
              {error}
            </span>
          ) : null}
        </div>
        {created ? (
          <div role="status" className="rounded-md border border-emerald-300 bg-emerald-50 px-3 py-2 text-sm dark:border-emerald-500/40 dark:bg-emerald-500/10">
            <p className="font-medium">Token for {created.user} — shown this once; only its hash is stored.</p>
            <p className="mt-1 flex flex-wrap items-center gap-2">
              <code className="mono break-all" data-testid="new-token">
                {created.token}
              </code>
              <CopyButton value={created.token} />
            </p>
          </div>
        ) : null}
      </form>

      <div className="card table-wrap">
        <table className="data" data-testid="tokens-table">
          <thead>
            <tr>
              <th>Prefix</th>
              <th>Owner</th>
              <th>Label</th>
              <th>Scope</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => {
              const state = tokenState(t, now);
              return (
                <tr key={t.id} data-testid="token-row" data-prefix={t.prefix}>
                  <td className="mono">{t.prefix}…</td>
                  <td>{t.user}</td>
                  <td>{t.name}</td>
                  <td className="text-xs">
                    <div>channels: {t.channels ? t.channels.join(", ") : "all"}</div>
                    <div>permissions: {t.permissions ? <span className="mono">{t.permissions.join(", ")}</span> : "the user's role"}</div>
                  </td>
                  <td>
                    <When at={t.createdAt} now={now} />
                  </td>
                  <td>
                    <When at={t.lastUsedAt} now={now} />
                  </td>
                  <td>{t.expiresAt ? <When at={t.expiresAt} now={now} /> : <span className="text-slate-400">never</span>}</td>
                  <td>
                    <Badge tone={state.tone}>{state.label}</Badge>
                    {t.revokedAt ? (
                      <div className="text-xs text-slate-500">
                        <When at={t.revokedAt} now={now} />
                      </div>
                    ) : null}
                  </td>
                  <td>
                    {!t.revokedAt ? (
                      <button type="button" className="btn-secondary px-2 py-1 text-xs" onClick={() => void revoke(t)}>
                        Revoke
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
            {tokens.length === 0 ? (
              <tr>
                <td colSpan={9} className="text-center text-slate-500">
                  No API tokens yet.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </div>
  );
}
