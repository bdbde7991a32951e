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
  // Another profile is out of its reach.
  const other = await request.get("/v1/campaigns?profile_id=999999", { headers: { Authorization: `Bearer ${key}` } });
  expect(other.status()).toBe(403);
  expect((await other.json()).error.code).toBe("workspace_not_accessible");

  // Rotating it keeps the source document's 48 hours of overlap by default.
  await row.getByRole("link", { name: "Rotate" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByLabel("The old token stops")).toHaveValue("48h");
});
