import { test, expect } from "@playwright/test";
import { createToken, expectDashboard, hydrated, screenshot, signUp, uniqueEmail } from "./helpers";

// The REST API of spec §12 as its users meet it: an admin makes a key for one profile on
// Developer › Tokens, then calls an endpoint with it (60 units a minute, the request's id).
test("an API key for one profile calls the REST API", async ({ page, request }) => {
  await signUp(page, uniqueEmail("rest"));
  await expectDashboard(page);
  await page.goto("/tokens");
  await hydrated(page);
  const reach = page.getByRole("form", { name: "Create token" }).getByLabel("Reach");
  const option = reach.locator("option", { hasText: "One profile (API key)" }).first();
  const value = await option.getAttribute("value");
  expect(value).toMatch(/^profile:\d+$/);
  // A key for one profile starts with the API's default scopes, and cannot hold the others.
  const form = page.getByRole("form", { name: "Create token" });
  await expect(form.getByRole("checkbox", { name: /credits:read/ })).toBeChecked();
  await reach.selectOption(value!);
  await expect(form.getByRole("checkbox", { name: /realtime:read/ })).toBeChecked();
  await expect(form.getByRole("checkbox", { name: /credits:read/ })).not.toBeChecked();
  await expect(form.getByRole("checkbox", { name: /credits:read/ })).toBeDisabled();
  await expect(form.getByRole("checkbox", { name: /visitors:read/ })).toBeEnabled();
  await expect(form.getByTestId("token-summary")).toContainText("Reads analytics, campaigns, conversions, live visitors");
  await screenshot(page, "profile-key-form");
  const key = await createToken(page, "rest-key", [], value!);
  expect(key).toMatch(/^tg_live_/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  const row = page.locator("tr", { hasText: "rest-key" });
  await expect(row).toContainText("Profile:");
  await screenshot(page, "profile-key");

  const answer = await request.get("/v1/campaigns", { headers: { Authorization: `Bearer ${key}` } });
  expect(answer.status()).toBe(200);
  expect(answer.headers()["x-ratelimit-limit"]).toBe("60");
  expect(answer.headers()["x-request-id"]).toMatch(/^req_/);
  const body = await answer.json();
  expect(body.range.days).toBe(30);
  expect(Array.isArray(body.campaigns)).toBe(true);
  // The website's traffic of the demo data, and its visitors on the site right now.
  const overview = await request.get("/v1/analytics/overview", { headers: { Authorization: `Bearer ${key}` } });
  expect(overview.status()).toBe(200);
  expect((await overview.json()).sessions).toBeGreaterThan(500);
  const live = await request.get("/v1/realtime", { headers: { Authorization: `Bearer ${key}` } });
  expect(live.status()).toBe(200);
  expect((await live.json()).active_visitors).toBeGreaterThan(0);
  // Another profile is out of its reach.
  const other = await request.get("/v1/campaigns?profile_id=999999", { headers: { Authorization: `Bearer ${key}` } });
  expect(other.status()).toBe(403);
  expect((await other.json()).error.code).toBe("workspace_not_accessible");

  // Rotating it keeps the source document's 48 hours of overlap by default.
  await row.getByRole("link", { name: "Rotate" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByLabel("The old token stops")).toHaveValue("48h");
});
