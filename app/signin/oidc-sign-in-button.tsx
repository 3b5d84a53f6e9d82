"use client";
import { signIn } from "next-auth/react";
import { useState } from "react";

/** Starts the identity provider's sign-in (next-auth posts for the URL, then the browser goes there). */
export function OidcSignInButton({ name }: { name: string }) {
  const [pending, setPending] = useState(false);
  return (
    <button
      type="button"
      className="btn-primary w-full justify-center"
      disabled={pending}
      onClick={() => {
        setPending(true);
        void signIn("oidc", { callbackUrl: "/" });
      }}
    >
      {pending ? `Going to ${name}…` : `Sign in with ${name}`}
    </button>
  );
}
