import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { signIn } from "./fixtures/auth";
import { TOKENS_FILE } from "./fixtures/env";

const tokens = () => JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as Record<"admin" | "deployer" | "viewer", string>;
const bearer = (who: "admin" | "deployer" | "viewer") => ({ authorization: `Bearer ${tokens()[who]}` });
const today = () => new Date().toISOString().slice(0, 10);
const yesterday = () => new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);

test("the audit page reads as sentences, filters combine and stay in the URL, and the chain verdict is shown", async ({ page, request }) => {
  // Something to find: a person's host refresh through the API.
  expect((await request.post("/api/hosts/refresh", { headers: bearer("deployer") })).status()).toBe(200);

  await signIn(page, "admin");
  await page.goto("/audit");
  await expect(page.getByTestId("audit-row").first()).toBeVisible();
  await expect(page.getByTestId("audit-summary").filter({ hasText: /created API token “e2e” \(.+…\) for e2e-viewer/ })).toHaveCount(1);
  await expect(page.getByTestId("deployment-timeline")).toContainText("Deployments per day");

  // An admin checks the chain now; the verdict stays on the page.
  await page.getByTestId("verify-button").click();
  await expect(page.getByTestId("audit-verdict")).toHaveAttribute("data-ok", "true");
  await expect(page.getByTestId("audit-verdict")).toContainText("chain intact");
  await expect(page.getByTestId("audit-verdict")).toContainText("by e2e-admin");

  // Action + text, submitted by the form: both in the URL, both applied.
  await page.locator('select[name="action"]').selectOption("token.create");
  await page.locator('input[name="q"]').fill("e2e-viewer");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/action=token\.create/);
  await expect(page).toHaveURL(/q=e2e-viewer/);
  await expect(page.getByTestId("audit-row")).toHaveCount(1);
  await expect(page.getByTestId("audit-row")).toHaveAttribute("data-action", "token.create");

  // The typed details are one click away.
  const details = page.getByTestId("audit-row").locator("details");
  await expect(details.locator("pre")).toBeHidden();
  await details.locator("summary").click();
  await expect(details.locator("pre")).toContainText('"tokenName": "e2e"');
  await expect(details).toContainText("seq");

  // A reload (or a shared link) keeps the filters; a time range narrows them further.
  await page.reload();
  await expect(page.locator('select[name="action"]')).toHaveValue("token.create");
  await expect(page.locator('input[name="q"]')).toHaveValue("e2e-viewer");
  await page.locator('input[name="from"]').fill(today());
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(new RegExp(`from=${today()}`));
  await expect(page.getByTestId("audit-row")).toHaveCount(1);
  await page.locator('input[name="from"]').fill("");
  await page.locator('input[name="to"]').fill(yesterday());
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page.getByText("No audit events match.")).toBeVisible();

  // Actor filter from the menu: the deployer's refresh through the API, in words.
  await page.goto("/audit?actor=e2e-deployer&action=hosts.refresh");
  await expect(page.locator('select[name="actor"]')).toHaveValue("e2e-deployer");
  await expect(page.getByTestId("audit-summary").first()).toContainText(/^e2e-deployer probed 3 hosts: 3 ok/);
  await page.getByRole("link", { name: "Clear" }).click();
  await expect(page).toHaveURL(/\/audit$/);
});

test("export downloads the current filter as CSV and JSON", async ({ page }) => {
  await signIn(page, "admin");
  await page.goto(`/audit?action=token.create&from=${today()}`);
  await expect(page.getByTestId("audit-row")).toHaveCount(3);

  const [csv] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
  expect(csv.suggestedFilename()).toMatch(/^scap-channels-audit-.*\.csv$/);
  const lines = readFileSync((await csv.path())!, "utf8").trim().split("\n");
  expect(lines[0]).toBe("id,at,actor,source,action,target,ip,userAgent,payload,channel,version,summary,seq,hash");
  expect(lines).toHaveLength(4);
  expect(lines.slice(1).every((l) => l.includes(",token.create,"))).toBe(true);

  const [json] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-json").click()]);
  const events = JSON.parse(readFileSync((await json.path())!, "utf8")) as { action: string; target: string; summary: string; hash: string }[];
  expect(events.map((e) => e.target)).toEqual(["e2e-admin", "e2e-deployer", "e2e-viewer"]);
  expect(events.every((e) => e.action === "token.create" && /^[0-9a-f]{64}$/.test(e.hash) && e.summary.includes("created API token"))).toBe(true);
});

test("a viewer reads the verdict but cannot start a verification", async ({ page, request }) => {
  const refused = await request.post("/api/audit/verify", { headers: bearer("viewer") });
  expect(refused.status()).toBe(403);
  const last = await (await request.get("/api/audit/verify", { headers: bearer("viewer") })).json();
  expect(last.verification).toMatchObject({ ok: true });
  await signIn(page, "viewer");
  await page.goto("/audit");
  await expect(page.getByTestId("verify-button")).toBeDisabled();
  await expect(page.getByTestId("verify-button")).toHaveAttribute("title", /lacks the admin permission/);
});
