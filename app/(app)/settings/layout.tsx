import Link from "next/link";
import { requirePageUser } from "@/lib/auth/guard";
import { can } from "@/lib/auth/permissions";
import { Notice, PageHeader } from "../../_components/ui";

export const dynamic = "force-dynamic";

/** Settings are for admins; the JSON API behind them checks `admin` again on every request. */
export default async function SettingsLayout({ children }: { children: React.ReactNode }) {
  const user = await requirePageUser();
  if (!can(user.role, "admin")) {
    return (
      <>
        <PageHeader title="Settings" />
        <Notice tone="slate" title="Settings are for admins.">
          <p>Your role ({user.role}) lacks the admin permission. An admin can give you a token or change your role.</p>
        </Notice>
      </>
    );
  }
  return (
    <>
      <nav aria-label="Settings" className="mb-4 flex gap-2 text-sm">
        <Link className="btn-secondary" href="/settings/tokens">
          API tokens
        </Link>
        <Link className="btn-secondary" href="/settings/users">
          Users
        </Link>
      </nav>
      {children}
    </>
  );
}
