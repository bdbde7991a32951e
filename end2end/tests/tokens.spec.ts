import { test, expect } from "@playwright/test";
import { expectDashboard, hydrated, screenshot, signUp, uniqueEmail } from "./helpers";

const TOKEN = /^tg_live_[0-9A-Za-z]{38}$/;

test("create a token shown once, copy it, rotate with grace, revoke, read the audit log", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  // The strict Content-Security-Policy must not block anything the page needs.
  const violations: string[] = [];
  page.on("console", (m) => m.text().includes("Content Security Policy") && violations.push(m.text()));
  const email = uniqueEmail("tokens");
  await signUp(page, email);
  await expectDashboard(page);
  await expect(page.getByText("No tokens yet")).toBeVisible();
  await hydrated(page);

  const form = page.getByRole("form", { name: "Create token" });
  await form.getByLabel("Label").fill("claude-laptop");
  await expect(form.getByRole("checkbox", { name: /analytics:read/ })).toBeChecked();
  await expect(form.getByRole("checkbox", { name: /pii:read/ })).not.toBeChecked();
  await form.getByRole("checkbox", { name: /pii:read/ }).check();
  const created = page.waitForResponse((r) => r.url().includes("/api/create_token"));
  await form.getByRole("button", { name: "Create token" }).click();
  const response = await created;
  expect(response.headers()["cache-control"]).toBe("no-store");

  const field = page.getByTestId("new-token");
  await expect(field).toBeVisible();
  const token = await field.inputValue();
  expect(token).toMatch(TOKEN);
  await expect(page.getByText("it will not be shown again")).toBeVisible();
  const claude = await page.getByTestId("snippet-claude").textContent();
  expect(claude).toContain('--header "Authorization: Bearer ${TOLLGATE_TOKEN}"');
  expect(claude).not.toContain(token);
  await page.getByRole("button", { name: "Copy", exact: true }).click();
  await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  await screenshot(page, "token-created");

  // The list shows the hint and status; a reload never shows the token again.
  const hint = `${token.slice(0, 12)}…${token.slice(-4)}`;
  await page.reload();
  await expect(page.getByTestId("new-token")).toHaveCount(0);
  expect(await page.content()).not.toContain(token);
  const row = page.locator("tr", { hasText: "claude-laptop" });
  await expect(row).toContainText(hint);
  await expect(row).toContainText("Active");
  await expect(row).toContainText("pii:read");
  await expect(row).toContainText("Never");
  await page.goBack();
  expect(await page.content()).not.toContain(token);
  await page.goto("/tokens");
  await hydrated(page);

  // Rotate with a 15-minute grace: a successor is shown once, the old token is in grace.
  await row.getByText("Rotate", { exact: true }).click();
  await row.getByLabel("The old token stops").selectOption("15m");
  await row.getByRole("button", { name: "Rotate token" }).click();
  const successor = await page.getByTestId("new-token").inputValue();
  expect(successor).toMatch(TOKEN);
  expect(successor).not.toBe(token);
  const rows = page.locator("tbody tr", { hasText: "claude-laptop" });
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: hint })).toContainText("In grace until");
  const successorRow = rows.filter({ hasText: `${successor.slice(0, 12)}…${successor.slice(-4)}` });
  await expect(successorRow).toContainText("Active");
  await screenshot(page, "tokens");

  // Revoke the successor, with confirmation.
  await successorRow.getByText("Revoke", { exact: true }).click();
  await successorRow.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(successorRow).toContainText("Revoked");

  await page.getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Audit log" })).toBeVisible();
  for (const action of ["token.created", "token.rotated", "token.revoked"]) {
    await expect(page.locator("tr", { hasText: action }).first()).toContainText(email);
  }
  await expect(page.locator("tr", { hasText: "token.revoked" })).toContainText("127.0.0.1");
  await page.locator("tr", { hasText: "token.rotated" }).getByRole("link", { name: "token events" }).click();
  await expect(page.getByText(/Showing events of token #\d+/)).toBeVisible();
  // The rotated token's own history: created, then rotated.
  await expect(page.locator("tbody tr")).toHaveCount(2);
  await expect(page.locator("tbody tr").nth(0)).toContainText("token.rotated");
  await expect(page.locator("tbody tr").nth(1)).toContainText("token.created");
  await screenshot(page, "audit");
  expect(violations).toEqual([]);
});

test("members grant read scopes only and cannot make organization tokens", async ({ page, browser }) => {
  const owner = uniqueEmail("tokowner");
  const member = uniqueEmail("tokmember");
  await signUp(page, owner);
  await expectDashboard(page);
  await page.goto("/settings/members");
  const invite = page.getByRole("form", { name: "Invite" });
  await invite.getByLabel("Email").fill(member);
  await invite.getByRole("button", { name: "Create invite link" }).click();
  const url = await page.getByTestId("invite-link").inputValue();

  const memberPage = await (await browser.newContext()).newPage();
  await signUp(memberPage, member, undefined, url.split("/").pop());
  await expectDashboard(memberPage);
  const form = memberPage.getByRole("form", { name: "Create token" });
  await expect(form.getByRole("checkbox", { name: /pii:read/ })).toBeDisabled();
  await expect(form.getByRole("checkbox", { name: /reports:write/ })).toBeDisabled();
  await expect(form.getByRole("radio", { name: /This organization/ })).toHaveCount(0);
  await expect(memberPage.getByRole("link", { name: "Audit log" })).toHaveCount(0);
  await form.getByLabel("Label").fill("member-script");
  await form.getByRole("button", { name: "Create token" }).click();
  await expect(memberPage.getByTestId("new-token")).toBeVisible();

  // The owner does not see the member's personal token; the member cannot open the audit log.
  await page.goto("/tokens");
  await expect(page.locator("tr", { hasText: "member-script" })).toHaveCount(0);
  await memberPage.goto("/audit");
  await expect(memberPage.getByRole("alert")).toContainText("Only admins and owners");
});
