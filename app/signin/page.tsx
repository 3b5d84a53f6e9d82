import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { sessionUser } from "@/lib/auth/guard";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function SignInPage() {
  if (await sessionUser()) redirect("/");
  return (
    <main className="grid min-h-screen place-items-center px-4">
      <div className="card w-full max-w-sm p-6">
        <div className="mb-5 flex items-center gap-2">
          <span aria-hidden className="grid h-8 w-8 place-items-center rounded-md bg-indigo-600 text-sm font-bold text-white">sc</span>
          <h1 className="text-lg font-semibold">Sign in to Scap Channels</h1>
        </div>
        <SignInForm />
        <p className="mt-4 text-xs text-slate-500 dark:text-slate-400">
          Accounts are made with <code className="mono">npm run cli -- user add NAME --role viewer|deployer|admin</code>.
        </p>
      </div>
    </main>
  );
}
