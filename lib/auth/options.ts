import "server-only";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import type { Provider } from "next-auth/providers/index";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { clientAddress, headerValue, type HeaderSource } from "./client-address";
import { authSettings, OIDC_PROVIDER_ID, oidcProvider, signInWithOidc, type RequestInfo } from "./oidc";
import type { Claims } from "./oidc-claims";
import { authSecret } from "./secret";
import { createSession, endSession, sessionLimits } from "./sessions";
import { auditCountedFailure, clearFailures, reserveAttempt } from "./throttle";
import { authenticate, type SessionUser } from "./users";

async function auditSignIn(user: SessionUser, ip: string | null, userAgent: string | null) {
  // Recording a sign-in needs no permission; the role here is the user's and grants nothing.
  const actor: Actor = { id: user.id, name: user.name, source: "ui", role: user.role, ip, userAgent };
  await getDb().$transaction(async (tx) => {
    await tx.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
    await recordAudit(tx, actor, "user.signin", user.name, { method: "password", role: user.role });
  });
}

export function requestInfo(headers: HeaderSource): RequestInfo {
  return { address: clientAddress(headers), userAgent: headerValue(headers, "user-agent")?.slice(0, 300) ?? null };
}

const credentialsSchema = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) });

const passwordProvider = CredentialsProvider({
  name: "Password",
  credentials: { username: { label: "User", type: "text" }, password: { label: "Password", type: "password" } },
  async authorize(raw, req) {
    const parsed = credentialsSchema.safeParse(raw);
    if (!parsed.success) return null;
    const name = parsed.data.username;
    const { address, userAgent } = requestInfo(req?.headers as HeaderSource);
    // Counted before the password is checked, so parallel guesses cannot slip past the limit.
    const counts = await reserveAttempt(name, address);
    if (counts.paused) {
      await auditCountedFailure({ name, address, userAgent, reason: "throttled" }, counts);
      return null;
    }
    const user = await authenticate(name, parsed.data.password);
    if (!user) {
      await auditCountedFailure({ name, address, userAgent, reason: "password" }, counts);
      return null;
    }
    await clearFailures(name, address);
    await auditSignIn(user, address, userAgent);
    return { id: String(user.id), name: user.name };
  },
});

/**
 * next-auth's options under the current config: password sign-in unless `auth.local` is false,
 * the identity provider when `auth.oidc` is set (and its secret is in the environment). `request`
 * is the sign-in request's headers, for the audit of identity-provider sign-ins.
 */
export function authOptions(request?: { headers: HeaderSource }): NextAuthOptions {
  const settings = authSettings();
  const providers: Provider[] = [];
  if (settings.local) providers.push(passwordProvider);
  if (settings.oidc?.secret) providers.push(oidcProvider(settings.oidc.config, settings.oidc.secret));
  return {
    secret: authSecret(),
    session: { strategy: "jwt", maxAge: Math.ceil(sessionLimits().maxMs / 1000) },
    // next-auth's own error page is replaced by the sign-in page, which names the problem.
    pages: { signIn: "/signin", error: "/signin" },
    providers,
    callbacks: {
      async signIn({ user, account, profile }) {
        if (account?.provider !== OIDC_PROVIDER_ID) return true; // passwords were checked in authorize()
        const oidc = settings.oidc;
        if (!oidc) return false;
        const outcome = await signInWithOidc((profile ?? {}) as Claims, oidc.config, requestInfo(request?.headers));
        if ("refused" in outcome) return `/signin/refused?reason=${outcome.refused}`;
        // next-auth passes this same object to jwt() below: from here on it is our user.
        user.id = String(outcome.user.id);
        user.name = outcome.user.name;
        return true;
      },
      // The cookie carries the session id only; who the user is and what role they hold is read
      // from the database on every request (lib/auth/guard.ts).
      async jwt({ token, user }) {
        if (user) {
          token.uid = Number(user.id);
          token.sid = await createSession(Number(user.id));
        }
        return token;
      },
      session({ session, token }) {
        return { ...session, uid: token.uid, sid: token.sid };
      },
    },
    events: {
      async signOut({ token }) {
        if (typeof token?.sid === "string") await endSession(token.sid);
      },
    },
  };
}
