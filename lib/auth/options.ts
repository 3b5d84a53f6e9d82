import "server-only";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { z } from "zod";
import { recordAudit, type Actor } from "../audit/log";
import { getDb } from "../db";
import { isRole } from "./permissions";
import { authSecret } from "./secret";
import { clearFailures, isThrottled, recordFailure } from "./throttle";
import { authenticate } from "./users";

type Headers = Record<string, string | string[] | undefined> | undefined;

function header(h: Headers, name: string): string | null {
  const v = h?.[name];
  return (Array.isArray(v) ? v[0] : v) ?? null;
}

async function auditSignIn(name: string, id: number | null, headers: Headers, failure?: "password" | "throttled") {
  const actor: Actor = {
    id,
    name: name.slice(0, 40),
    source: "ui",
    // Recording a sign-in needs no permission; the role here grants nothing.
    role: "viewer",
    ip: header(headers, "x-forwarded-for")?.split(",")[0]?.trim() ?? null,
    userAgent: header(headers, "user-agent")?.slice(0, 300) ?? null,
  };
  await getDb().$transaction((tx) =>
    failure ? recordAudit(tx, actor, "user.signin-failed", actor.name, { reason: failure }) : recordAudit(tx, actor, "user.signin", actor.name, {}),
  );
}

const credentialsSchema = z.object({ username: z.string().min(1).max(100), password: z.string().min(1).max(1000) });

export function authOptions(): NextAuthOptions {
  return {
    secret: authSecret(),
    session: { strategy: "jwt", maxAge: 12 * 60 * 60 },
    pages: { signIn: "/signin" },
    providers: [
      CredentialsProvider({
        name: "Password",
        credentials: { username: { label: "User", type: "text" }, password: { label: "Password", type: "password" } },
        async authorize(raw, req) {
          const parsed = credentialsSchema.safeParse(raw);
          if (!parsed.success) return null;
          const name = parsed.data.username;
          const headers = req?.headers as Headers;
          if (isThrottled(name)) {
            await auditSignIn(name, null, headers, "throttled");
            return null;
          }
          const user = await authenticate(name, parsed.data.password);
          if (!user) {
            recordFailure(name);
            await auditSignIn(name, null, headers, "password");
            return null;
          }
          clearFailures(name);
          await auditSignIn(user.name, user.id, headers);
          return { id: String(user.id), name: user.name, role: user.role };
        },
      }),
    ],
    callbacks: {
      jwt({ token, user }) {
        if (user) {
          token.uid = Number(user.id);
          token.role = (user as { role?: string }).role;
        }
        return token;
      },
      session({ session, token }) {
        return { ...session, uid: token.uid, role: isRole(token.role) ? token.role : undefined };
      },
    },
  };
}
