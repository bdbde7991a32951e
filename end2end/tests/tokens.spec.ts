import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { createToken, expectDashboard, hydrated, screenshot, signUp, uniqueEmail } from "./helpers";

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
  const claude = await page.getByTestId("snippet-claudecode").textContent();
  expect(claude).toContain("--header 'Authorization: Bearer ${TOLLGATE_TOKEN}'");
  expect(claude).not.toContain(token);
  await page.getByRole("button", { name: "Copy token", exact: true }).click();
  await expect(page.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
  await screenshot(page, "token-created");

  await page.getByRole("button", { name: "I have saved it" }).click();
  await expect(page.getByTestId("new-token")).toHaveCount(0);

  // The list shows the hint and status; a reload never shows the token again.
  const hint = `${token.slice(0, 12)}…${token.slice(-4)}`;
  await page.reload();
  await expect(page.getByTestId("new-token")).toHaveCount(0);
  expect(await page.content()).not.toContain(token);
  const row = page.locator("tr", { hasText: "claude-laptop" });
  await expect(row).toContainText(hint);
  await expect(row).toContainText("Active");
  // Compact: the scopes counted, risks named; each scope on hover.
  await expect(row).toContainText("7 scopes · PII");
  await expect(row.getByText("7 scopes · PII")).toHaveAttribute("title", /pii:read/);
  await expect(row).toContainText("Never");
  await page.goBack();
  expect(await page.content()).not.toContain(token);
  await page.goto("/tokens");
  await hydrated(page);

  // Rotate with a 15-minute grace, in a dialog: a successor is shown once, the old token is in
  // grace, listed under its successor, and can no longer be rotated.
  await row.getByRole("link", { name: "Rotate" }).click();
  const rotate = page.getByRole("dialog", { name: "Rotate “claude-laptop”?" });
  await rotate.getByLabel("The old token stops").selectOption("15m");
  await rotate.getByRole("button", { name: "Rotate token" }).click();
  await expect(rotate).toHaveCount(0);
  const successor = await page.getByTestId("new-token").inputValue();
  expect(successor).toMatch(TOKEN);
  expect(successor).not.toBe(token);
  await expect(page.getByTestId("status")).toContainText("Rotated “claude-laptop”");
  const rows = page.locator("tbody tr", { hasText: "claude-laptop" });
  await expect(rows).toHaveCount(2);
  const successorRow = rows.filter({ hasText: `${successor.slice(0, 12)}…${successor.slice(-4)}` });
  await expect(successorRow).toContainText("Active");
  await expect(rows.nth(1)).toContainText(hint);
  await expect(rows.nth(1)).toContainText("In grace until");
  await expect(rows.nth(1)).toContainText("replaced");
  await expect(rows.nth(1).getByRole("link", { name: "Rotate" })).toHaveCount(0);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await screenshot(page, "tokens");

  // Revoke the successor: the dialog names it and its last use; the list then hides it.
  await successorRow.getByRole("link", { name: "Revoke" }).click();
  const revoke = page.getByRole("dialog", { name: "Revoke “claude-laptop”?" });
  await expect(revoke).toContainText("It has never been used.");
  await revoke.getByRole("button", { name: "Revoke token" }).click();
  await expect(revoke).toHaveCount(0);
  await expect(page.getByTestId("status")).toContainText("Revoked “claude-laptop”");
  await expect(rows).toHaveCount(1);
  await page.getByRole("link", { name: /Show 1 ended token/ }).click();
  await expect(rows).toHaveCount(2);
  await expect(successorRow).toContainText("Revoked");

  await page.getByRole("link", { name: "Audit log" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Audit log" })).toBeVisible();
  for (const action of ["Token created", "Token rotated", "Token revoked"]) {
    await expect(page.locator("tr", { hasText: action }).first()).toContainText(email);
  }
  await expect(page.locator("tr", { hasText: "Token revoked" })).toContainText("127.0.0.1");
  await page.locator("tr", { hasText: "Token rotated" }).getByRole("link", { name: "its events" }).click();
  await expect(page.getByText("Showing one token's events.")).toBeVisible();
  // The rotated token's own history: created, then rotated.
  await expect(page.locator("tbody tr")).toHaveCount(2);
  await expect(page.locator("tbody tr").nth(0)).toContainText("Token rotated");
  await expect(page.locator("tbody tr").nth(1)).toContainText("Token created");
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
  await expect(form.getByRole("option", { name: /This organization|One workspace/ })).toHaveCount(0);
  await expect(form.getByLabel("Reach")).toHaveValue("user");
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

test("the create form makes exactly the reach chosen, keeps a refused submit as typed, and says what the token will do", async ({ page }) => {
  await signUp(page, uniqueEmail("reach"));
  await expectDashboard(page);
  await hydrated(page);
  const form = page.getByRole("form", { name: "Create token" });
  const reach = form.getByLabel("Reach");
  // Least privilege by default: the first workspace, the read scopes, 90 days.
  await expect(reach.locator("option:checked")).toHaveText(/^One workspace: /);
  const workspace = ((await reach.locator("option:checked").textContent()) ?? "").replace("One workspace: ", "");
  await expect(form.getByLabel("Expires")).toHaveValue("90");
  const summary = page.getByTestId("token-summary");
  await expect(summary).toContainText(`Reads analytics, campaigns, conversions`);
  await expect(summary).toContainText(`in ${workspace}`);
  await expect(summary).toContainText(/expires \d+ \w{3} \d{4}/);
  await form.getByRole("checkbox", { name: /reports:write/ }).check();
  await expect(summary).toContainText("starts reports (spends credits)");

  // A refused submit (expiry in the past) keeps every field as typed.
  await form.getByLabel("Label").fill("pinned");
  await reach.selectOption({ label: "This organization: all of its workspaces" });
  await form.getByLabel("Expires").selectOption("date");
  await form.getByLabel("Date (if chosen)").fill("2020-01-01");
  await form.getByRole("button", { name: "Create token" }).click();
  await expect(form.getByRole("alert")).toContainText("Choose an expiry date in the future.");
  await expect(form.getByLabel("Label")).toHaveValue("pinned");
  await expect(reach).toHaveValue("organization");
  await expect(form.getByLabel("Expires")).toHaveValue("date");
  await expect(form.getByLabel("Date (if chosen)")).toHaveValue("2020-01-01");
  await expect(form.getByRole("checkbox", { name: /reports:write/ })).toBeChecked();
  await expect(summary).toContainText("in every workspace of this organization");

  // One workspace chosen is one workspace made.
  await reach.selectOption({ label: `One workspace: ${workspace}` });
  await form.getByLabel("Expires").selectOption("30");
  await form.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByTestId("new-token")).toBeVisible();
  // Focus and view move to the token; the form is cleared, so a second click makes nothing.
  await expect(page.getByRole("heading", { name: /Your new token “pinned”/ })).toBeFocused();
  await expect(page.getByRole("heading", { name: /Your new token/ })).toBeInViewport();
  await expect(form.getByLabel("Label")).toHaveValue("");
  const row = page.locator("tr", { hasText: "pinned" });
  await expect(row).toContainText(`Workspace: ${workspace}`);
  await screenshot(page, "token-revealed");

  // Leaving while the token is shown asks first.
  let asked = false;
  page.on("dialog", async (dialog) => {
    asked = dialog.type() === "beforeunload";
    await dialog.dismiss();
  });
  await page.close({ runBeforeUnload: true });
  await expect.poll(() => asked).toBe(true);
});

test("the Claude Code snippet passes the variable to Claude unexpanded, in a real shell", async ({ page }) => {
  await signUp(page, uniqueEmail("snippet"));
  await expectDashboard(page);
  const token = await createToken(page, "shell");
  const snippet = (await page.getByTestId("snippet-claudecode").textContent()) ?? "";
  expect(snippet).toContain("export TOLLGATE_TOKEN=");
  await expect(page.getByRole("button", { name: "Copy snippet" })).toHaveCount(3);
  // The snippet's `claude` is replaced by a function that prints its arguments, one a line.
  const claudeLine = snippet.split("\n").find((l) => l.startsWith("claude mcp add"))!;
  const printed = execFileSync("bash", ["-c", `claude() { printf '%s\\n' "$@"; }; ${claudeLine}`], {
    env: { PATH: process.env.PATH, TOLLGATE_TOKEN: token },
  }).toString();
  expect(printed.split("\n")).toContain("Authorization: Bearer ${TOLLGATE_TOKEN}");
  expect(printed).not.toContain(token);
});

test("billing's forms sent empty answer with a sentence", async ({ page }) => {
  await signUp(page, uniqueEmail("emptyplan"));
  await expectDashboard(page);
  await page.goto("/settings/billing");
  await hydrated(page);
  // The browser asks for a choice before anything is sent…
  const form = page.getByRole("form", { name: "Change plan" });
  await form.getByRole("button", { name: "Change plan…" }).click();
  await expect(page).toHaveURL(/\/settings\/billing$/);
  expect(await form.getByRole("radio").first().evaluate((r: HTMLInputElement) => r.validationMessage)).not.toBe("");
  // …and an empty or unknown choice sent anyway is answered with a sentence.
  await page.goto("/settings/billing?plan=");
  await expect(page.getByRole("dialog").getByRole("alert")).toHaveText("Choose Starter, Growth, Agency or Enterprise.");
  await page.goto("/settings/billing?grant=lots");
  await expect(page.getByRole("dialog").getByRole("alert")).toHaveText(/Grant between 1 and 1.000.000 credits\./);
  await expect(page.getByText(/Deserialization|missing field/)).toHaveCount(0);
});
