import { test, expect, Browser } from "@playwright/test";
import { expectDashboard, hydrated, screenshot, signUp, uniqueEmail } from "./helpers";

async function newPage(browser: Browser) {
  const context = await browser.newContext();
  return context.newPage();
}

test("invite, accept, change role and remove a member", async ({ page, browser }) => {
  const owner = uniqueEmail("owner");
  const bob = uniqueEmail("bob");
  await signUp(page, owner);
  await expectDashboard(page);

  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Members" })).toBeVisible();
  const inviteForm = page.getByRole("form", { name: "Invite" });
  await inviteForm.getByLabel("Email").fill(bob);
  await inviteForm.getByLabel("Role").selectOption("admin");
  await inviteForm.getByRole("button", { name: "Create invite link" }).click();
  const link = page.getByTestId("invite-link");
  await expect(link).toBeVisible();
  const url = await link.inputValue();
  expect(url).toMatch(/\/invite\/[0-9A-Za-z]{32}$/);
  await expect(page.getByRole("cell", { name: bob })).toBeVisible();
  await screenshot(page, "members-invite");

  // Bob opens the link in his own browser, creates his account and lands in the organization.
  const bobPage = await newPage(browser);
  await bobPage.goto(url);
  await expect(bobPage.getByRole("heading", { level: 1 })).toContainText("Join ");
  await expect(bobPage.getByText(bob)).toBeVisible();
  await screenshot(bobPage, "invite");
  await bobPage.getByRole("link", { name: "Create an account to join" }).click();
  await signUp(bobPage, bob, undefined, url.split("/").pop());
  await expectDashboard(bobPage);
  await expect(bobPage.locator("#org-switcher-select")).toContainText("(admin)");

  // The owner sees Bob as an admin, makes him a member, then removes him.
  await page.reload();
  const row = page.locator("tr", { has: page.getByText(bob, { exact: true }) });
  await expect(row.getByLabel(`Role of ${bob}`)).toHaveValue("admin");
  await row.getByLabel(`Role of ${bob}`).selectOption("member");
  await row.getByRole("button", { name: "Change role" }).click();
  await page.reload();
  await expect(row.getByLabel(`Role of ${bob}`)).toHaveValue("member");
  await screenshot(page, "members");

  await bobPage.reload();
  await expect(bobPage.locator("#org-switcher-select")).toContainText("(member)");

  await row.getByRole("link", { name: "Remove" }).click();
  const dialog = page.getByRole("dialog", { name: `Remove ${bob}?` });
  await dialog.getByRole("button", { name: "Remove member" }).click();
  await expect(page.getByTestId("status")).toHaveText(`${bob} no longer belongs to this organization.`);
  await expect(page.locator("tr", { has: page.getByText(bob, { exact: true }) })).toHaveCount(0);

  // Bob no longer belongs to the owner's organization: only the switcher's empty state remains.
  await bobPage.goto("/settings/members");
  await expect(bobPage.getByRole("heading", { level: 1, name: "No organization" })).toBeVisible();
});

test("the last owner cannot be demoted", async ({ page }) => {
  const owner = uniqueEmail("solo");
  await signUp(page, owner);
  await expectDashboard(page);
  await page.goto("/settings/members");
  const row = page.locator("tr", { has: page.getByText(owner, { exact: true }) });
  await row.getByLabel(`Role of ${owner}`).selectOption("admin");
  await row.getByRole("button", { name: "Change role" }).click();
  await expect(page.getByRole("alert")).toContainText("An organization needs at least one owner");
});

test("workspaces and organization settings", async ({ page }) => {
  await signUp(page, uniqueEmail("ws"));
  await expectDashboard(page);
  await page.getByRole("link", { name: "Workspaces" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Workspaces" })).toBeVisible();
  await hydrated(page);
  const create = page.getByRole("form", { name: "New workspace" });
  await create.getByLabel("Name").fill("Client <b>Alpha</b>");
  await create.getByRole("button", { name: "Create workspace" }).click();
  await expect(page.getByTestId("status")).toHaveText("Workspace “Client <b>Alpha</b>” created.");
  await expect(create.getByLabel("Name")).toHaveValue("");
  const renamed = page.getByLabel("Name of Client <b>Alpha</b>");
  await expect(renamed).toHaveValue("Client <b>Alpha</b>");
  await renamed.fill("Client Beta");
  await page.getByRole("button", { name: "Rename" }).last().click();
  await expect(page.getByTestId("status")).toHaveText("Renamed to “Client Beta”.");
  await page.reload();
  await expect(page.getByLabel("Name of Client Beta")).toHaveValue("Client Beta");

  // Write-back: off by default; an admin turns it on with an endpoint and a signing secret, in
  // a dialog that closes once saved.
  await hydrated(page);
  const main = page.locator("tbody tr").first();
  await expect(main.getByText(/^Off ·/)).toBeVisible();
  await main.getByRole("link", { name: "Configure" }).click();
  const dialog = page.getByRole("dialog", { name: /^Write-back for / });
  await dialog.getByLabel("Send conversions to this endpoint").check();
  await dialog.getByLabel("Endpoint URL").fill("https://hooks.example.com/meta");
  await dialog.getByLabel("Signing secret").fill("short");
  await dialog.getByRole("button", { name: "Save write-back" }).click();
  await expect(dialog.getByRole("alert")).toContainText("at least 16 characters");
  await dialog.getByLabel("Signing secret").fill("a-long-shared-signing-secret");
  await dialog.getByRole("button", { name: "Save write-back" }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId("status")).toHaveText("Write-back settings saved: write-back is on.");
  await expect(main.getByText(/^On · 0 delivered, 0 pending, 0 failed/)).toBeVisible();
  await screenshot(page, "workspaces");

  await page.getByRole("link", { name: "Organization" }).click();
  // The details load after the page's other forms: "Another organization" has a Name field too,
  // and the first Name on the page is that one until they arrive.
  const details = page.locator("section", { has: page.getByRole("heading", { name: "Details" }) });
  await details.getByLabel("Name", { exact: true }).fill("Beta Agency");
  await details.getByLabel("Default grace when a token is rotated").selectOption("48h");
  await details.getByRole("button", { name: "Save" }).click();
  await expect(details.getByRole("status")).toHaveText("Saved.");
  await page.reload();
  await expect(page.getByLabel("Default grace when a token is rotated")).toHaveValue("48h");
  await expect(page.locator("#org-switcher-select")).toContainText("Beta Agency");
  await screenshot(page, "organization");


});
