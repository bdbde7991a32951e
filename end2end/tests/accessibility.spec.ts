import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { baseURL } from "../playwright.config";
import { expectDashboard, hydrated, signUp, uniqueEmail } from "./helpers";

/** axe-core's serious and critical violations of WCAG 2.x A and AA on the page as it is now. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("every page passes axe-core with no serious or critical violation", async ({ page }) => {
  for (const path of ["/signin", "/signup", "/no-such-page"]) {
    await page.goto(path);
    expect(await violations(page), path).toEqual([]);
  }
  await signUp(page, uniqueEmail("axe"));
  await expectDashboard(page);
  const pages = ["/tokens", "/connected-apps", "/usage", "/audit", "/settings/organization", "/settings/workspaces", "/settings/members", "/settings/billing"];
  for (const path of pages) {
    await page.goto(path);
    await hydrated(page);
    expect(await violations(page), path).toEqual([]);
  }
  // The OAuth consent page (a client registered, its request opened) and the page for a request
  // that cannot be answered.
  const registration = await fetch(`${baseURL}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_name: "axe client", redirect_uris: ["http://127.0.0.1/callback"] }),
  });
  const { client_id } = await registration.json();
  const query = new URLSearchParams({
    response_type: "code", client_id, redirect_uri: "http://127.0.0.1:9/callback", state: "s",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", code_challenge_method: "S256",
  });
  await page.goto(`/authorize?${query}`);
  await expect(page.getByRole("form", { name: "Approve access" })).toBeVisible();
  expect(await violations(page), "the consent page").toEqual([]);
  await page.goto("/authorize/failed?reason=unknown_client");
  expect(await violations(page), "a request that cannot be answered").toEqual([]);
  // The pages with a token on them, and the dialogs opened over them.
  await page.goto("/tokens");
  await hydrated(page);
  const form = page.getByRole("form", { name: "Create token" });
  await form.getByLabel("Label").fill("axe-token");
  await form.getByRole("button", { name: "Create token" }).click();
  await expect(page.getByTestId("new-token")).toBeVisible();
  expect(await violations(page), "the revealed token").toEqual([]);
  await page.getByRole("button", { name: "I have saved it" }).click();
  const row = page.locator("tr", { hasText: "axe-token" });
  await row.getByRole("link", { name: "Revoke" }).click();
  await expect(page.getByRole("dialog")).toBeVisible();
  expect(await violations(page), "the revoke dialog").toEqual([]);
  await page.keyboard.press("Escape");
  await row.getByRole("link", { name: "axe-token" }).click();
  await expect(page.getByTestId("token-detail")).toContainText("axe-token");
  expect(await violations(page), "a token's page").toEqual([]);
  // The settings pages' dialogs.
  await page.goto("/settings/workspaces");
  await hydrated(page);
  await page.getByRole("link", { name: "Configure" }).first().click();
  await expect(page.getByRole("dialog")).toBeVisible();
  expect(await violations(page), "the write-back dialog").toEqual([]);
  for (const path of ["/settings/billing?plan=growth", "/settings/billing?grant=250&note=axe"]) {
    await page.goto(path);
    await hydrated(page);
    await expect(page.getByRole("dialog")).toBeVisible();
    expect(await violations(page), path).toEqual([]);
  }
  // And every page at a phone's width.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of pages) {
    await page.goto(path);
    await hydrated(page);
    expect(await violations(page), `${path} at 390 px`).toEqual([]);
  }
});

test("a token is created and revoked with the keyboard alone", async ({ page }) => {
  await signUp(page, uniqueEmail("keys"));
  await expectDashboard(page);
  await hydrated(page);
  const label = page.getByRole("form", { name: "Create token" }).getByLabel("Label");
  // Tab from the top of the page to the label field, type, then submit with Enter.
  await page.locator("body").focus();
  for (let i = 0; i < 60 && !(await label.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(label).toBeFocused();
  await page.keyboard.type("keyboard-token");
  await page.keyboard.press("Enter");
  const revealed = page.getByTestId("new-token");
  await expect(revealed).toBeVisible();
  expect(await revealed.inputValue()).toMatch(/^tg_/);
  // The dialog holds the focus; its button is reached by Tab and pressed with Enter.
  const saved = page.getByRole("button", { name: "I have saved it" });
  for (let i = 0; i < 10 && !(await saved.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(saved).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(revealed).toHaveCount(0);

  const revoke = page.locator("tr", { hasText: "keyboard-token" }).getByRole("link", { name: "Revoke" });
  for (let i = 0; i < 80 && !(await revoke.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(revoke).toBeFocused();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Revoke “keyboard-token”?" });
  await expect(dialog).toBeVisible();
  const confirm = dialog.getByRole("button", { name: "Revoke token" });
  for (let i = 0; i < 10 && !(await confirm.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(confirm).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("status")).toContainText("Revoked “keyboard-token”");
});
