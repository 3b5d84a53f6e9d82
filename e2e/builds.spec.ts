import { execFileSync } from "node:child_process";
import { expect, test } from "@playwright/test";
import { load } from "./sandbox";
import { signIn } from "./fixtures/auth";
import { SANDBOX_DIR } from "./fixtures/env";

test("the builds page lists the sandbox repository's versions newest first", async ({ page }) => {
  const sandbox = await load(SANDBOX_DIR);
  await signIn(page, "deployer");
  await page.goto("/builds");
  await page.getByRole("button", { name: "Refresh builds" }).click();
  await expect(page.getByTestId("builds-refresh-result")).toBeVisible();
  await expect(page.getByTestId("repository-status")).toContainText("verified");

  const expected = [...sandbox.versions];
  // dpkg is the judge of order: sort descending with it.
  expected.sort((a, b) => {
    try {
      execFileSync("dpkg", ["--compare-versions", a, "gt", b]);
      return -1;
    } catch {
      return 1;
    }
  });
  await expect(page.getByTestId("build-row")).toHaveCount(expected.length);
  const shown = await page.getByTestId("build-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-version")));
  expect(shown).toEqual(expected);

  await page.getByLabel("Filter builds").fill("gbpdef456");
  await expect(page.getByTestId("build-row")).toHaveCount(expected.filter((v) => v.includes("gbpdef456")).length);
});
