import { test, expect } from "@playwright/test";
import { createToken, expectDashboard, screenshot, signUp, uniqueEmail } from "./helpers";

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

  await page.getByRole("link", { name: "Usage" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  await expect(page.getByTestId("usage-meter")).toHaveText("9 / 2000 units · 0 %");
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
  const plan = page.getByRole("form", { name: "Change plan" });
  await plan.getByLabel(/Growth/).check();
  await plan.getByRole("button", { name: "Change plan" }).click();
  await expect(page.getByTestId("current-plan")).toHaveText("Growth");
  const grant = page.getByRole("form", { name: "Grant credits" });
  await grant.getByLabel("Credits").fill("50");
  await grant.getByLabel("Note").fill("Invoice 42");
  await grant.getByRole("button", { name: "Grant" }).click();
  await expect(page.getByTestId("billing-credits")).toHaveText("150");
  await screenshot(page, "billing");
  await page.getByRole("link", { name: "Usage" }).click();
  await expect(page.getByTestId("usage-meter")).toHaveText("0 / 200000 units · 0 %");
  await expect(page.locator("tr", { hasText: "Invoice 42" })).toContainText("+50");
});

test("a report is generated in the background and its credits show in the ledger", async ({ page, request }) => {
  await signUp(page, uniqueEmail("report"));
  await expectDashboard(page);
  await page.goto("/tokens");
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
