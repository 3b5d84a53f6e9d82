import "server-only";
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { z } from "zod";
import { isRole } from "./permissions";
import { authSecret } from "./secret";
import { authenticate } from "./users";

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
        async authorize(raw) {
          const parsed = credentialsSchema.safeParse(raw);
          if (!parsed.success) return null;
          const user = await authenticate(parsed.data.username, parsed.data.password);
          return user ? { id: String(user.id), name: user.name, role: user.role } : null;
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
