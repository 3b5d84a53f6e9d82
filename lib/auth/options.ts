import "server-only";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { clientAddress, headerValue, type HeaderSource } from "./client-address";
import { authSecret } from "./secret";
import { createSession, endSession, SESSION_MAX_AGE_SECONDS } from "./sessions";
import { clearFailures, isThrottled, recordFailure } from "./throttle";
import { authenticate, type SessionUser } from "./users";

async function auditSignIn(user: SessionUser, ip: string | null, userAgent: string | null) {
  // Recording a sign-in needs no permission; the role here is the user's and grants nothing.
  const actor: Actor = { id: user.id, name: user.name, source: "ui", role: user.role, ip, userAgent };
  await getDb().$transaction((tx) => recordAudit(tx, actor, "user.signin", user.name, {}));
}

const credentialsSchema = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) });

export function authOptions(): NextAuthOptions {
  return {
    secret: authSecret(),
    session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SECONDS },
    pages: { signIn: "/signin" },
    providers: [
      CredentialsProvider({
        name: "Password",
        credentials: { username: { label: "User", type: "text" }, password: { label: "Password", type: "password" } },
        async authorize(raw, req) {
          const parsed = credentialsSchema.safeParse(raw);
          if (!parsed.success) return null;
          const name = parsed.data.username;
          const headers = req?.headers as HeaderSource;
          const address = clientAddress(headers);
          const userAgent = headerValue(headers, "user-agent")?.slice(0, 300) ?? null;
          if (await isThrottled(name, address)) {
            await recordFailure({ name, address, userAgent, reason: "throttled" });
            return null;
          }
          const user = await authenticate(name, parsed.data.password);
          if (!user) {
            await recordFailure({ name, address, userAgent, reason: "password" });
            return null;
          }
          await clearFailures(name, address);
          await auditSignIn(user, address, userAgent);
          return { id: String(user.id), name: user.name };
        },
      }),
    ],
    callbacks: {
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
