import { test, expect, Page, Browser } from "@playwright/test";
import * as fs from "node:fs";
import { createToken, expectDashboard, hydrated, PASSWORD, screenshot, signIn, signUp, uniqueEmail } from "./helpers";

/** Signs up a fresh owner and returns a token of theirs (default scopes, first workspace). */
async function ownerWithToken(page: Page, name: string, label = "script"): Promise<{ email: string; token: string }> {
  const email = uniqueEmail(name);
  await signUp(page, email);
  await expectDashboard(page);
  const token = await createToken(page, label);
  await page.getByRole("button", { name: "I have saved it" }).click();
  return { email, token };
}

async function call(page: Page, token: string, tool: string, args: object) {
  return page.request.post(`/v1/tools/${tool}`, { headers: { Authorization: `Bearer ${token}` }, data: args });
}

async function firstWorkspace(page: Page, token: string): Promise<number> {
  return (await (await call(page, token, "list_workspaces", {})).json()).workspaces[0].id;
}

test("usage tells one story: one period for every figure, refusals by kind, a scale, days to come", async ({ page }) => {
  const { token } = await ownerWithToken(page, "story");
  const workspace_id = await firstWorkspace(page, token);
  for (let i = 0; i < 3; i++) expect((await call(page, token, "get_performance_summary", { workspace_id })).status()).toBe(200);
  expect((await call(page, token, "generate_report", { workspace_id })).status()).toBe(403);
  expect((await call(page, token, "get_performance_summary", { workspace_id: 999999 })).status()).toBe(403);
  const backwards = { workspace_id, start_date: "2026-02-01", end_date: "2026-01-01" };
  expect((await call(page, token, "get_performance_summary", backwards)).status()).toBe(400);

  // A plan change keeps the period: the meter and the chart count the same units.
  await page.goto("/settings/billing?plan=growth");
  await hydrated(page);
  await page.getByRole("dialog").getByRole("button", { name: "Switch to Growth" }).click();
  await expect(page.getByTestId("current-plan")).toHaveText("Growth");
  await page.goto("/usage");
  await expect(page.getByTestId("usage-meter")).toHaveText("3 / 200,000 units · 0 %");
  await page.getByText("Per-day values").click();
  const perDay = await page.getByTestId("per-day").locator("tbody td.num").allTextContents();
  expect(perDay.map(Number).reduce((a, b) => a + b, 0)).toBe(3);
  const byTool = await page.getByTestId("by-tool").locator("tbody tr td:nth-child(3)").allTextContents();
  expect(byTool.map(Number).reduce((a, b) => a + b, 0)).toBe(3);

  const refusals = page.getByTestId("refusals");
  await expect(refusals.getByRole("heading")).toHaveText("Refused calls this period: 3");
  await expect(refusals.locator("tr", { hasText: "Missing scope" })).toContainText("1");
  await expect(refusals.locator("tr", { hasText: "Outside the token's reach" })).toContainText("1");
  await expect(refusals.locator("tr", { hasText: "Bad input" })).toContainText("1");
  await expect(refusals.locator("tr", { hasText: "Rate limited" }).locator("td.num")).toHaveText("0");

  // The chart has a scale (0, half, top) and draws the days to come apart from empty days.
  const chart = page.locator("svg.chart");
  await expect(chart.locator("line.chart-grid")).toHaveCount(3);
  await expect(chart.locator("text.chart-label").first()).toHaveText("0");
  expect(await chart.locator("rect.chart-future").count()).toBeGreaterThanOrEqual(27);
  await expect(chart.locator("rect.chart-bar")).toHaveCount(perDay.length);
  await screenshot(page, "usage-story");
});

test("numbers follow the reader's locale", async ({ browser }) => {
  const context = await browser.newContext({ locale: "de-DE" });
  const page = await context.newPage();
  await signUp(page, uniqueEmail("locale"));
  await expectDashboard(page);
  await page.goto("/usage");
  await expect(page.getByTestId("usage-meter")).toHaveText("0 / 2.000 units · 0 %");
  await context.close();
});

test("dialogs trap focus, close on Esc, outside clicks and success, and give focus back", async ({ page }) => {
  await ownerWithToken(page, "dialogs", "laptop");
  await page.goto("/tokens");
  await hydrated(page);
  const row = page.locator("tbody tr", { hasText: "laptop" });
  const rotateLink = row.getByRole("link", { name: "Rotate" });

  await rotateLink.click();
  const dialog = page.getByRole("dialog", { name: "Rotate “laptop”?" });
  await expect(dialog).toBeVisible();
  await expect(page).toHaveURL(/\?rotate=\d+$/);
  // Focus stays inside: tabbing round never reaches the page behind.
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement?.closest("dialog"))).toBe(true);
  }
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await expect(page).toHaveURL(/\/tokens$/);
  await expect(rotateLink).toBeFocused();

  // A click outside (on the backdrop) closes it too.
  await row.getByRole("link", { name: "Revoke" }).click();
  const revoke = page.getByRole("dialog", { name: "Revoke “laptop”?" });
  await expect(revoke).toBeVisible();
  await expect(revoke).toContainText("It has never been used.");
  await screenshot(page, "dialog-revoke");
  await page.mouse.click(5, 5);
  await expect(revoke).toHaveCount(0);

  // Cancel closes it; the token still works.
  await row.getByRole("link", { name: "Revoke" }).click();
  await revoke.getByRole("link", { name: "Cancel" }).click();
  await expect(revoke).toHaveCount(0);
  await expect(row).toContainText("Active");
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("lists are stacked cards with their actions in reach, under a compact header", async ({ page }) => {
    await ownerWithToken(page, "phonelist", "phone-token");
    await page.goto("/tokens");
    const nav = await page.locator("nav.sidenav").boundingBox();
    expect(nav!.y + nav!.height, "header and navigation").toBeLessThanOrEqual(844 / 6);
    const revoke = page.locator("tbody tr", { hasText: "phone-token" }).getByRole("link", { name: "Revoke" });
    await expect(revoke).toBeInViewport();
    const box = await revoke.boundingBox();
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await expect(page.locator("table.tokens thead")).toBeHidden();
    for (const path of ["/settings/members", "/audit", "/settings/workspaces"]) {
      await page.goto(path);
      await expect(page.locator("table.stack-on-phone thead").first()).toBeHidden();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, path).toBeLessThanOrEqual(1);
    }
  });
});

test("the audit log names tokens, workspaces and people, filters by event and downloads as CSV", async ({ page }) => {
  const { email, token } = await ownerWithToken(page, "auditnames", "reporter");
  const workspace_id = await firstWorkspace(page, token);
  expect((await call(page, token, "generate_report", { workspace_id })).status()).toBe(403);
  await page.goto("/settings/workspaces");
  await hydrated(page);
  const name = page.locator("tbody tr").first().locator("input[name=name]");
  const before = await name.inputValue();
  await name.fill("Renamed Client");
  await page.getByRole("button", { name: "Rename" }).first().click();
  await expect(page.getByTestId("status")).toHaveText("Renamed to “Renamed Client”.");

  await page.goto("/audit");
  const denied = page.locator("tbody tr", { hasText: "Scope denied" });
  await expect(denied).toContainText("generate_report needs reports:write");
  await expect(denied.getByRole("link", { name: /^reporter \(tg_live_/ })).toBeVisible();
  await expect(page.locator("tbody tr", { hasText: "Workspace renamed" })).toContainText(`${before} → Renamed Client`);
  await expect(page.locator("tbody tr", { hasText: "Token created" })).toContainText(email);

  await page.locator("select[name=action]").selectOption("token.scope_denied");
  await page.getByRole("button", { name: "Filter" }).click();
  await expect(page).toHaveURL(/action=token.scope_denied/);
  await expect(page.locator("tbody tr")).toHaveCount(1);

  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download CSV" }).click();
  const csv = fs.readFileSync((await (await download).path())!, "utf8");
  const lines = csv.trim().split("\r\n");
  expect(lines[0]).toBe("time_utc,action,details,token,actor,ip,repeats");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain("token.scope_denied,generate_report needs reports:write,reporter (tg_live_");
  await screenshot(page, "audit-filtered");
});

test("a token's own page shows its scopes, reach, usage and events", async ({ page }) => {
  const { token } = await ownerWithToken(page, "detail", "detailed");
  const workspace_id = await firstWorkspace(page, token);
  expect((await call(page, token, "get_performance_summary", { workspace_id })).status()).toBe(200);
  await page.goto("/tokens");
  await page.getByRole("link", { name: "detailed" }).click();
  const detail = page.getByTestId("token-detail");
  await expect(detail).toContainText("Workspace: ");
  await expect(page.locator("ul.scope-list li")).toHaveCount(6);
  // The default read scopes leave customer data out.
  await expect(page.locator("ul.scope-list")).not.toContainText("customers:read");
  await expect(page.getByTestId("token-usage").locator("tr", { hasText: "get_performance_summary" })).toContainText("1");
  await expect(page.getByTestId("token-events").locator("tr", { hasText: "Token created" })).toBeVisible();
  await screenshot(page, "token-detail");
});

test("members: invites are copied and withdrawn only after asking; the switcher reads whole", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signUp(page, uniqueEmail("invites"));
  await expectDashboard(page);
  await hydrated(page);
  // With scripts, choosing an organization switches at once: no separate button.
  await expect(page.locator("#org-switcher-select option:checked")).toHaveText(/\(owner\)$/);
  await expect(page.getByRole("button", { name: "Switch" })).toHaveCount(0);

  await page.goto("/settings/members");
  await hydrated(page);
  const invitee = uniqueEmail("invitee");
  const form = page.getByRole("form", { name: "Invite" });
  await form.getByLabel("Email").fill(invitee);
  await form.getByRole("button", { name: "Create invite link" }).click();
  const link = await page.getByTestId("invite-link").inputValue();
  await expect(form.getByLabel("Email")).toHaveValue("");
  await page.getByRole("button", { name: "Copy link" }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);

  const row = page.locator("tr", { hasText: invitee });
  await row.getByRole("link", { name: "Withdraw" }).click();
  const dialog = page.getByRole("dialog", { name: `Withdraw the invitation of ${invitee}?` });
  await dialog.getByRole("button", { name: "Withdraw invitation" }).click();
  await expect(page.getByTestId("status")).toHaveText(`The invitation of ${invitee} is withdrawn: its link no longer works.`);
  await expect(row).toHaveCount(0);
});

test("each risk has its own mark", async ({ page }) => {
  await signUp(page, uniqueEmail("marks"));
  await expectDashboard(page);
  const marks = page.getByRole("form", { name: "Create token" }).locator(".mark");
  // customers:read and visitors:read share one risk (PII, masked), and so one look.
  await expect(marks).toHaveCount(5);
  const looks = await marks.evaluateAll((els) =>
    els.map((e) => `${e.textContent} ${getComputedStyle(e).backgroundColor} ${getComputedStyle(e, "::before").content}`),
  );
  expect(new Set(looks).size).toBe(4);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("dialogs are plain pages: revoke asks, then says it is done", async ({ page, browser }) => {
    // The token is made with scripts (a new token can only be shown by the scripted page).
    const scripted = await (await browser.newContext({ javaScriptEnabled: true })).newPage();
    const { email } = await ownerWithToken(scripted, "nojsdialog", "plain");
    await signIn(page, email, PASSWORD);
    await expectDashboard(page);
    // The switcher still switches, by its button.
    await expect(page.getByRole("button", { name: "Switch" })).toBeVisible();
    await page.locator("tbody tr", { hasText: "plain" }).getByRole("link", { name: "Revoke" }).click();
    await expect(page).toHaveURL(/\?revoke=\d+$/);
    const dialog = page.getByRole("dialog", { name: "Revoke “plain”?" });
    await expect(dialog).toBeVisible();
    await screenshot(page, "nojs-revoke");
    await dialog.getByRole("button", { name: "Revoke token" }).click();
    await expect(page.getByRole("status").filter({ hasText: "“plain” is revoked." })).toBeVisible();
    await expect(page.locator("tbody tr", { hasText: "plain" })).toHaveCount(0);
  });
});

/** Every dashboard page at desktop and phone width, into end2end/screenshots. */
test("screenshots of every page at both widths", async ({ page }) => {
  await ownerWithToken(page, "shots", "screenshot-token");
  const pages = ["/tokens", "/usage", "/audit", "/settings/organization", "/settings/workspaces", "/settings/members", "/settings/billing"];
  for (const [width, height, suffix] of [[1280, 800, "desktop"], [390, 844, "phone"]] as const) {
    await page.setViewportSize({ width, height });
    for (const path of pages) {
      await page.goto(path);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await expect(page.locator(".loading")).toHaveCount(0);
      await screenshot(page, `page-${path.slice(1).replace("/", "-")}-${suffix}`);
    }
  }
});
