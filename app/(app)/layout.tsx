import Link from "next/link";
import { NavLinks } from "../_components/nav-links";
import { SignOutButton } from "../_components/sign-out";
import { ThemeToggle } from "../_components/theme-toggle";
import { Badge, Notice } from "../_components/ui";
import { configProblemFor } from "@/lib/auth/config-details";
import { requirePageUser } from "@/lib/auth/guard";
import { getConfigState } from "@/lib/config";
import { frozenChannels } from "@/lib/deploy/freeze";

export const dynamic = "force-dynamic";

export default async function AppLayout({ children }: { children: React.ReactNode }) {
  const user = await requirePageUser();
  const config = getConfigState();
  const frozen = await frozenChannels();
  return (
    <div className="flex min-h-screen flex-col">
      <header className="sticky top-0 z-10 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-900/90">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-2.5">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <span aria-hidden className="grid h-7 w-7 place-items-center rounded-md bg-indigo-600 text-xs font-bold text-white">sc</span>
            Scap Channels
          </Link>
          <div className="order-3 w-full sm:order-none sm:w-auto sm:flex-1">
            <NavLinks admin={user.role === "admin"} />
          </div>
          <div className="ml-auto flex items-center gap-2 text-sm">
            <span className="hidden text-slate-600 sm:inline dark:text-slate-300" data-testid="current-user">
              {user.name}
            </span>
            <Badge tone={user.role === "viewer" ? "slate" : "indigo"} title="Your role">
              {user.role}
            </Badge>
            <ThemeToggle />
            <SignOutButton />
          </div>
        </div>
      </header>
      <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-6">
        {config.status === "invalid" ? (
          <Notice tone="red" title="The configuration file is invalid; nothing that needs it can run until it is fixed.">
            <pre className="whitespace-pre-wrap text-xs">{configProblemFor(user.role, config.error.message)}</pre>
          </Notice>
        ) : null}
        {config.status === "ok" && config.reloadError ? (
          <Notice tone="red" title="The configuration file changed and no longer validates; the last good configuration stays in use.">
            <pre className="whitespace-pre-wrap text-xs">{configProblemFor(user.role, config.reloadError)}</pre>
          </Notice>
        ) : null}
        {frozen.size > 0 ? (
          <Notice tone="amber" title={`Frozen: ${[...frozen.keys()].join(", ")}. Promotions and rollbacks there are refused (an admin may override).`}>
            {[...frozen].map(([name, f]) => (
              <p key={name} data-testid="freeze-banner">
                <Link className="font-medium underline" href={`/channels/${name}`}>
                  {name}
                </Link>{" "}
                by {f.by}: {f.reason}
                {f.until ? ` (until ${f.until.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC")})` : ""}
              </p>
            ))}
          </Notice>
        ) : null}
        {children}
      </main>
    </div>
  );
}
