"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { callApi } from "../../../_components/api-client";
import { Badge, formatUtc, relativeTime } from "../../../_components/ui";

interface UserRow {
  id: number;
  name: string;
  role: string;
  createdAt: string;
  disabledAt: string | null;
  lastSignInAt: string | null;
  activeTokens: number;
}

function When({ at, now }: { at: string | null; now: Date }) {
  if (!at) return <span className="text-slate-400">never</span>;
  return (
    <time dateTime={at} title={formatUtc(at)}>
      {relativeTime(new Date(at), now)}
    </time>
  );
}

export function UsersAdmin({ me, roles, users, renderedAt }: { me: string; roles: string[]; users: UserRow[]; renderedAt: string }) {
  const router = useRouter();
  const now = new Date(renderedAt);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function act(name: string, path: string, body: unknown, confirmText?: string) {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(name);
    setError(null);
    try {
      await callApi(`/api/users/${encodeURIComponent(name)}/${path}`, { method: "POST", body: JSON.stringify(body) });
      router.refresh();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="space-y-3">
      {error ? (
        <p role="alert" className="text-sm text-rose-600 dark:text-rose-400">
          {error}
        </p>
      ) : null}
      <div className="card table-wrap">
        <table className="data" data-testid="users-table">
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Last sign-in</th>
              <th>Created</th>
              <th>Tokens</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {users.map((u) => {
              const self = u.name === me;
              const why = self ? "Your own account is changed from the CLI or by another admin." : undefined;
              return (
                <tr key={u.id} data-testid="user-row" data-user={u.name}>
                  <td className="font-medium">{u.name}</td>
                  <td>
                    <select
                      className="input py-1 text-xs"
                      aria-label={`Role of ${u.name}`}
                      value={u.role}
                      disabled={self || u.disabledAt !== null || busy === u.name}
                      title={why}
                      onChange={(e) => void act(u.name, "role", { role: e.target.value })}
                    >
                      {roles.map((r) => (
                        <option key={r} value={r}>
                          {r}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <When at={u.lastSignInAt} now={now} />
                  </td>
                  <td>
                    <When at={u.createdAt} now={now} />
                  </td>
                  <td>{u.activeTokens}</td>
                  <td>{u.disabledAt ? <Badge tone="red">disabled</Badge> : <Badge tone="green">active</Badge>}</td>
                  <td>
                    {!u.disabledAt ? (
                      <button
                        type="button"
                        className="btn-secondary px-2 py-1 text-xs"
                        disabled={self || busy === u.name}
                        title={why}
                        onClick={() => void act(u.name, "disable", {}, `Disable ${u.name}? Their sessions end and their API tokens stop working at once.`)}
                      >
                        Disable
                      </button>
                    ) : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
