import { expect, Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";

export const PASSWORD = "correct horse battery";
const shots = path.join(__dirname, "..", "screenshots");

let counter = 0;
/** A fresh address per call, so tests never depend on each other. */
export function uniqueEmail(name: string): string {
  counter += 1;
  return `${name}.${Date.now().toString(36)}${counter}@example.com`;
}

export async function signUp(page: Page, email: string, password = PASSWORD, invite?: string) {
  await page.goto(invite ? `/signup?invite=${invite}` : "/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signIn(page: Page, email: string, password = PASSWORD) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

export async function signOut(page: Page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin$/);
}

export async function expectDashboard(page: Page) {
  await expect(page).toHaveURL(/\/tokens$/);
  await expect(page.getByRole("heading", { level: 1, name: "Tokens" })).toBeVisible();
}

export async function screenshot(page: Page, name: string) {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/** Waits until the page has hydrated: token creation and rotation need its scripts. */
export async function hydrated(page: Page): Promise<void> {
  await page.locator("html[data-hydrated]").waitFor({ state: "attached" });
}

/** Creates a token in the dashboard with the default scopes, minus `uncheck`, and the default
 * reach (an admin's first workspace) unless `reach` (`user`, `organization`) is given; returns it. */
export async function createToken(page: Page, label: string, uncheck: string[] = [], reach?: string): Promise<string> {
  await page.goto("/tokens");
  await hydrated(page);
  const form = page.getByRole("form", { name: "Create token" });
  await form.getByLabel("Label").fill(label);
  if (reach) await form.getByLabel("Reach").selectOption(reach);
  for (const scope of uncheck) {
    await form.getByRole("checkbox", { name: new RegExp(scope) }).uncheck();
  }
  await form.getByRole("button", { name: "Create token" }).click();
  return page.getByTestId("new-token").inputValue();
}
