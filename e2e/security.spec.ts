import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { expect, test } from "@playwright/test";
import { signIn } from "./fixtures/auth";
import { E2E_PORT, TOKENS_FILE } from "./fixtures/env";

const bearer = (who: "admin" | "deployer" | "viewer") => ({ authorization: `Bearer ${(JSON.parse(readFileSync(TOKENS_FILE, "utf8")) as Record<string, string>)[who]}` });

test("every response carries the security headers, and pages work under the CSP", async ({ page, request }) => {
  for (const path of ["/signin", "/api/health", "/api/no-such-endpoint", "/no-such-page"]) {
    const res = await request.get(path);
    const h = res.headers();
    expect(h["content-security-policy"], path).toContain("frame-ancestors 'none'");
    expect(h["content-security-policy"], path).toContain("object-src 'none'");
    expect(h["x-frame-options"], path).toBe("DENY");
    expect(h["x-content-type-options"], path).toBe("nosniff");
    expect(h["referrer-policy"], path).toBe("same-origin");
  }
  const refused: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) refused.push(m.text());
  });
  await signIn(page, "viewer"); // needs the hydrated sign-in form
  await page.goto("/builds");
  await page.getByRole("button", { name: "Switch light/dark theme" }).click(); // a client component that only works hydrated
  await expect(page.locator("html")).toHaveClass(/dark/);
  expect(refused).toEqual([]);
});

test("an unknown API path is a JSON 404 for every method, not the HTML page", async ({ request }) => {
  for (const method of ["GET", "POST", "DELETE"] as const) {
    const res = await request.fetch("/api/builds/no-such-thing", { method, headers: bearer("viewer") });
    expect(res.status(), method).toBe(404);
    expect(res.headers()["content-type"]).toContain("application/json");
    expect((await res.json()).error.code).toBe("NOT_FOUND");
  }
});

/**
 * POSTs `size` bytes with node:http and resolves with the answer. The server may answer and close
 * before the whole body is sent (that is the point), so a write error after the answer is expected.
 */
function postLarge(path: string, headers: Record<string, string>, size: number): Promise<{ status: number; body: string }> {
  const base = new URL(`http://127.0.0.1:${E2E_PORT}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: base.hostname, port: base.port, path, method: "POST", headers: { ...headers, "content-length": String(size) } });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", (e) => {
      if (!answered) setTimeout(() => (answered ? undefined : reject(e)), 2000);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size && !answered) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

/**
 * The server answers 413 and closes while the client still sends: when the kernel meets unread
 * body bytes at that close it may reset the connection and drop the answer with it. Such a run
 * tells nothing either way, so it is tried again (at most three times).
 */
async function postLargeAnswered(path: string, headers: Record<string, string>, size: number): Promise<{ status: number; body: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await postLarge(path, headers, size);
    } catch (e) {
      if (attempt === 3 || !/EPIPE|ECONNRESET/.test(String((e as NodeJS.ErrnoException).code ?? e))) throw e;
    }
  }
}

test("oversized bodies are refused with 413 before they are read", async () => {
  const json = await postLargeAnswered("/api/builds/refresh", { ...bearer("deployer"), "content-type": "application/json" }, 10 * 1024 * 1024);
  expect(json.status).toBe(413);
  expect((JSON.parse(json.body) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
  const form = await postLargeAnswered("/api/auth/callback/credentials", { "content-type": "application/x-www-form-urlencoded" }, 50 * 1024 * 1024);
  expect(form.status).toBe(413);
  expect((JSON.parse(form.body) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");
});

test("a copied session cookie stops working once its session signs out", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, "viewer");
  const copied = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const thief = await browser.newContext();
  expect((await thief.request.get("/api/builds", { headers: { cookie: copied } })).status()).toBe(200);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin/);
  const after = await thief.request.get("/api/builds", { headers: { cookie: copied } });
  expect(after.status()).toBe(401);
  await context.close();
  await thief.close();
});

test("a failed sign-in is audited as anonymous from the socket address, whatever X-Forwarded-For says", async ({ page, request }) => {
  await page.setExtraHTTPHeaders({ "x-forwarded-for": "203.0.113.66" });
  await page.goto("/signin");
  await page.getByLabel("User").fill("no-such-user\u202e");
  await page.getByLabel("Password").fill("whatever-it-is");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Wrong user name or password." })).toBeVisible();
  const { events } = await (await request.get("/api/audit?action=user.signin-failed&limit=1", { headers: bearer("admin") })).json();
  expect(events[0]).toMatchObject({ actor: "anonymous", ip: "127.0.0.1", payload: { reason: "password", attemptedName: "no-such-user\\u{202e}" } });
  await signIn(page, "admin");
  await page.goto("/audit");
  await expect(page.locator('select[name="actor"] option', { hasText: "anonymous" })).toHaveCount(1);
  await expect(page.locator('select[name="actor"] option', { hasText: "no-such-user" })).toHaveCount(0);
});
