// A user's way through the dashboard: register, log out and in again, keep a portfolio
// with transactions added, edited and deleted, be refused the admin page, log out.
import { randomBytes } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capture, launch, logIn, newPage } from "./support";

let browser: Browser;
let page: Page;
const email = `e2e-${randomBytes(4).toString("hex")}@example.com`;
const password = `pw-${randomBytes(9).toString("base64url")}`;

beforeAll(async () => {
  browser = await launch();
  page = await newPage(browser);
});

afterAll(async () => {
  await browser?.close();
});

function transactionRows(): Promise<string[]> {
  return page.getByRole("table", { name: "Transactions" }).getByRole("row").allTextContents();
}

describe("a user", () => {
  it("registers, and is signed in with no token in web storage", async () => {
    await page.goto("/account");
    await capture(page, "account-signed-out", async () => {
      await page.getByRole("form", { name: "Log in" }).waitFor();
    });
    await page.getByRole("tab", { name: "Register" }).click();
    const form = page.getByRole("form", { name: "Register" });
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill("short");
    await form.getByRole("button", { name: "Create account" }).click();
    // The API's 422 message, next to its field.
    await expect.poll(() => form.textContent()).toMatch(/at least 8 characters/i);
    await form.getByLabel("Password").fill(password);
    await form.getByLabel("Full name (optional)").fill("End To End");
    await form.getByRole("button", { name: "Create account" }).click();
    await page.getByTestId("account-link").waitFor();
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    expect(stored).not.toMatch(/eyJ/); // no JWT anywhere in web storage
    const cookies = await page.context().cookies();
    const refresh = cookies.find((cookie) => cookie.name === "cp_refresh");
    expect([refresh?.httpOnly, refresh?.sameSite]).toEqual([true, "Strict"]);
  });

  it("logs out, and logs in again; a reload keeps the session", async () => {
    await page.goto("/account");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("link", { name: "Log in" }).waitFor();
    await logIn(page, email, password);
    await page.reload();
    await page.getByTestId("account-link").waitFor();
    await page.goto("/account");
    await capture(page, "account", async () => {
      await page.getByRole("form", { name: "Change password" }).waitFor();
    });
  });

  it("creates a portfolio, adds, edits and deletes transactions", async () => {
    await page.goto("/portfolio");
    await page.getByRole("button", { name: "New portfolio" }).first().click();
    const created = page.getByRole("dialog");
    await created.getByLabel("Name", { exact: true }).fill("Long term");
    await created.getByRole("button", { name: "Create portfolio" }).click();
    await page.waitForURL(/\/portfolio\?id=\d+/);

    const add = page.getByRole("button", { name: "Add transaction" });
    await add.click();
    let dialog = page.getByRole("dialog");
    await dialog.getByLabel("Coin").selectOption("bitcoin");
    await dialog.getByLabel("Quantity").fill("-1");
    await dialog.getByLabel("Price").fill("30000");
    await dialog.getByRole("button", { name: "Add transaction" }).click();
    await expect.poll(() => dialog.textContent()).toMatch(/greater than 0/i); // the API's 422
    await dialog.getByLabel("Quantity").fill("0.5");
    await dialog.getByRole("button", { name: "Add transaction" }).click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(transactionRows).toEqual(expect.arrayContaining([expect.stringMatching(/0\.5/)]));

    await page.getByRole("button", { name: "Edit buy of 0.5 BTC" }).click();
    dialog = page.getByRole("dialog");
    await dialog.getByLabel("Quantity").fill("0.75");
    await dialog.getByRole("button", { name: "Save transaction" }).click();
    await dialog.waitFor({ state: "detached" });
    await expect.poll(() => transactionRows().then((rows) => rows.join("|"))).toMatch(/0\.75/);
    const holdings = page.getByRole("table", { name: "Holdings" });
    await expect.poll(() => holdings.textContent()).toMatch(/0\.75/);
    await capture(page, "portfolio", async () => {
      await holdings.waitFor();
    });

    await page.getByRole("button", { name: "Delete buy of 0.75 BTC" }).click();
    await page.getByRole("alertdialog").getByRole("button", { name: "Delete transaction" }).click();
    await expect.poll(() => page.getByRole("table", { name: "Transactions" }).count()).toBe(0);
  });

  it("is refused the admin pages", async () => {
    await page.goto("/admin");
    await page.getByText("Admins only").first().waitFor();
    expect(await page.getByRole("tab", { name: "Tasks" }).count()).toBe(0);
  });

  it("logs out", async () => {
    await page.goto("/account");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("link", { name: "Log in" }).waitFor();
    await page.goto("/portfolio");
    await page.getByRole("link", { name: "Log in" }).first().waitFor();
    expect(await page.getByRole("button", { name: "New portfolio" }).count()).toBe(0);
  });

  it("comes back to the page that asked for a login", async () => {
    await page.goto("/portfolio");
    await page.getByRole("main").getByRole("link", { name: "Log in" }).click();
    await page.waitForURL(/\/account\?next=%2Fportfolio/);
    const form = page.getByRole("form", { name: "Log in" });
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill(password);
    await form.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(/\/portfolio(\?|$)/);
    await page.getByRole("link", { name: "Long term" }).waitFor();
  });
});
