import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { sessionUser } from "@/lib/auth/guard";
import { authSettings } from "@/lib/auth/oidc";
import { OidcSignInButton } from "./oidc-sign-in-button";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

const NOT_COMPLETED = "The sign-in did not complete: it was cancelled at the identity provider, or something failed on the way back. Try again; the server log has the details.";

// next-auth's error codes (?error=) that can reach this page, in words.
const ERRORS: Record<string, string> = {
  OAuthSignin: "The sign-in could not start: the identity provider did not answer as expected. Try again; the server log has the details.",
  OAuthCallback: NOT_COMPLETED,
  Callback: NOT_COMPLETED,
  AccessDenied: "The sign-in was refused.",
  Configuration: "Sign-in is not configured correctly; an admin can see the server log.",
  CredentialsSignin: "Wrong user name or password.",
};

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  if (await sessionUser()) redirect("/");
  const { error } = await searchParams;
  const problem = typeof error === "string" ? (ERRORS[error] ?? "The sign-in could not be completed. Try again.") : null;
  const { local, oidc } = authSettings();
  return (
    <main className="grid min-h-screen place-items-center px-4">
      <div className="card w-full max-w-sm p-6">
        <div className="mb-5 flex items-center gap-2">
          <span aria-hidden className="grid h-8 w-8 place-items-center rounded-md bg-indigo-600 text-sm font-bold text-white">sc</span>
          <h1 className="text-lg font-semibold">Sign in to Scap Channels</h1>
        </div>
        {problem ? (
          <p role="alert" className="mb-4 text-sm text-rose-600 dark:text-rose-400">
            {problem}
          </p>
        ) : null}
        {oidc ? (
          oidc.secret ? (
            <OidcSignInButton name={oidc.config.name} />
          ) : (
            <p role="alert" className="text-sm text-rose-600 dark:text-rose-400">
              Sign-in with {oidc.config.name} is configured, but the server lacks its client secret; an admin can see why in the server log.
            </p>
          )
        ) : null}
        {oidc && local ? (
          <p className="my-4 flex items-center gap-2 text-xs text-slate-500 dark:text-slate-400">
            <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
            or with a local account
            <span className="h-px flex-1 bg-slate-200 dark:bg-slate-700" />
          </p>
        ) : null}
        {local ? (
          <>
            <SignInForm />
            <p className="mt-4 text-xs text-slate-500 dark:text-slate-400">
              Accounts are made with <code className="mono">npm run cli -- user add NAME --role viewer|deployer|admin</code>.
            </p>
          </>
        ) : null}
      </div>
    </main>
  );
}
