import { test, expect } from "@playwright/test";
import { expectDashboard, screenshot, signIn, signOut, signUp, uniqueEmail, PASSWORD } from "./helpers";

test("sign up, sign out, sign in, and a wrong password", async ({ page }) => {
  const email = uniqueEmail("ana");
  await page.goto("/signup");
  await screenshot(page, "signup");
  await signUp(page, email);
  await expectDashboard(page);
  await expect(page.getByText(email)).toBeVisible();
  await expect(page.locator("#org-switcher-select")).toContainText("'s organization (owner)");
  await screenshot(page, "tokens");

  await signOut(page);
  // The dashboard is closed once signed out.
  await page.goto("/settings/members");
  await expect(page).toHaveURL(/\/signin$/);

  await signIn(page, email, "not the password");
  await expect(page.getByRole("alert")).toHaveText("That email and password do not match an account.");
  await screenshot(page, "signin-error");

  await signIn(page, email);
  await expectDashboard(page);
});

test("a short password and a taken email are refused with a clear message", async ({ page }) => {
  await signUp(page, uniqueEmail("short"), "tiny");
  await expect(page.getByRole("alert")).toHaveText("Use a password of at least 12 characters.");
  const email = uniqueEmail("taken");
  await signUp(page, email);
  await expectDashboard(page);
  await signOut(page);
  await signUp(page, email);
  await expect(page.getByRole("alert")).toContainText("If it is yours, sign in instead.");
});

test("repeated failed sign-ins are throttled", async ({ page }) => {
  const email = uniqueEmail("throttled");
  await signUp(page, email);
  await expectDashboard(page);
  await signOut(page);
  for (let i = 0; i < 5; i++) {
    await signIn(page, email, `wrong password ${i}`);
    await expect(page.getByRole("alert")).toHaveText("That email and password do not match an account.");
  }
  await signIn(page, email, PASSWORD);
  await expect(page.getByRole("alert")).toHaveText("Too many failed sign-in attempts. Try again in 15 minutes.");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign in works with plain form posts", async ({ page }) => {
    const email = uniqueEmail("nojs");
    await signUp(page, email);
    await expectDashboard(page);
    await signOut(page);
    await signIn(page, email, "not the password");
    await expect(page.getByRole("alert")).toHaveText("That email and password do not match an account.");
    await signIn(page, email);
    await expectDashboard(page);
    await page.getByRole("link", { name: "Members" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Members" })).toBeVisible();
  });

  test("creating a token without JavaScript is refused before anything is created", async ({ page }) => {
    await signUp(page, uniqueEmail("nojs-token"));
    await expectDashboard(page);
    const form = page.getByRole("form", { name: "Create token" });
    await form.getByLabel("Label").fill("would-be-lost");
    await form.getByRole("button", { name: "Create token" }).click();
    await expect(page.getByRole("alert")).toContainText("needs JavaScript");
    await expect(page.getByText("No tokens yet")).toBeVisible();
  });
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the dashboard fits the screen", async ({ page }) => {
    await signUp(page, uniqueEmail("phone"));
    await expectDashboard(page);
    await expect(page.getByRole("link", { name: "Members" })).toBeVisible();
    for (const path of ["/tokens", "/settings/members", "/usage"]) {
      await page.goto(path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      // Tables may scroll inside their cards; the page itself must not scroll sideways.
      expect(overflow, path).toBeLessThanOrEqual(1);
    }
    await page.goto("/tokens");
    await screenshot(page, "phone-tokens");
  });
});

test("the site has a favicon", async ({ request }) => {
  const icon = await request.get("/favicon.ico");
  expect(icon.status()).toBe(200);
  expect((await icon.body()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
});
