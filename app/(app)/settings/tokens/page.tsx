import type { Metadata } from "next";
import { tokenJson } from "@/lib/auth/token-json";
import { listApiTokens } from "@/lib/auth/tokens";
import { listUsers } from "@/lib/auth/user-admin";
import { PERMISSIONS, ROLE_PERMISSIONS, isRole } from "@/lib/auth/permissions";
import { getDb } from "@/lib/db";
import { PageHeader } from "../../../_components/ui";
import { TokensAdmin } from "./tokens-admin";

export const metadata: Metadata = { title: "API tokens" };
export const dynamic = "force-dynamic";

export default async function TokensPage() {
  const [tokens, users, channels] = await Promise.all([
    listApiTokens(),
    listUsers(),
    getDb().channel.findMany({ where: { inConfig: true }, orderBy: { position: "asc" }, select: { name: true } }),
  ]);
  return (
    <>
      <PageHeader
        title="API tokens"
        description="Tokens for scripts and CI. A token acts as its user with at most the user's current role, optionally limited to channels and permissions, until it expires or is revoked."
      />
      <TokensAdmin
        tokens={tokens.map(tokenJson).reverse()}
        users={users.filter((u) => !u.disabledAt && isRole(u.role)).map((u) => ({ name: u.name, role: u.role, permissions: isRole(u.role) ? [...ROLE_PERMISSIONS[u.role]] : [] }))}
        channels={channels.map((c) => c.name)}
        permissions={[...PERMISSIONS]}
        renderedAt={new Date().toISOString()}
      />
    </>
  );
}
