import type { Metadata } from "next";
import Link from "next/link";
import { authSettings } from "@/lib/auth/oidc";

export const metadata: Metadata = { title: "Sign-in refused" };
export const dynamic = "force-dynamic";

const REASONS: Record<string, (provider: string) => string> = {
  "no-role": (provider) =>
    `${provider} confirmed who you are, but you are in none of the groups that give access to Scap Channels. Ask whoever manages those groups to add you to one (viewer, deployer or admin), then sign in again.`,
  disabled: () => "Your account is disabled in Scap Channels. An admin can tell you why.",
  "name-taken": () =>
    "Another account in Scap Channels already has your user name (a local account is never taken over by the identity provider). An admin has to sort this out before you can sign in.",
};

/** Where a sign-in through the identity provider ends when the person may not come in. */
export default async function RefusedPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { reason } = await searchParams;
  const provider = authSettings().oidc?.config.name ?? "The identity provider";
  const explain = typeof reason === "string" ? REASONS[reason] : undefined;
  return (
    <main className="grid min-h-screen place-items-center px-4">
      <div className="card w-full max-w-md p-6">
        <h1 className="mb-3 text-lg font-semibold">You cannot sign in to Scap Channels</h1>
        <p role="alert" data-testid="refusal" className="text-sm">
          {explain ? explain(provider) : "The sign-in was refused."}
        </p>
        <p className="mt-4 text-sm">
          <Link href="/signin" className="text-indigo-600 underline dark:text-indigo-400">
            Back to sign-in
          </Link>
        </p>
      </div>
    </main>
  );
}
