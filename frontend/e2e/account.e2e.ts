// A user's way through the dashboard: register, log out and in again, keep a portfolio
// with transactions added, edited, deleted and imported from a CSV, see its analytics, be
// refused the admin page, log out.
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

  it("imports a CSV after seeing what it would record, and sees the portfolio's figures", async () => {
    await page.getByRole("link", { name: "Long term" }).first().waitFor();
    const csv = [
      "executed_at,coin,kind,quantity,price,fee,note",
      "2021-01-04T12:00:00Z,bitcoin,buy,0.2,30000,5,imported",
      "2021-02-01,bitcoin,sell,0.05,33000,,",
    ].join("\n");
    await page.getByLabel("Import CSV").setInputFiles({
      name: "transactions.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(csv),
    });
    await page.getByText("2 transactions would be recorded").waitFor();
    expect(await page.getByRole("table", { name: "Transactions" }).count()).toBe(0); // a dry run
    await page.getByRole("button", { name: "Import 2 transactions" }).click();
    await page.getByRole("status").filter({ hasText: "Imported 2 transactions" }).waitFor();
    await expect.poll(() => page.getByRole("table", { name: "Holdings" }).textContent()).toMatch(/0\.15/);
    // The sale's lot and realised P&L, and the performance figures with their definitions.
    const realised = page.getByRole("table", { name: "Realised P&L" });
    await expect.poll(() => realised.textContent()).toMatch(/0\.05/);
    const figures = page.getByRole("definition").filter({ hasText: /daily returns linked/ });
    await figures.first().waitFor();
    await page.getByRole("radio", { name: "All" }).click();
    await page.getByRole("table", { name: "Benchmarks" }).waitFor();
    await capture(page, "portfolio-analytics", async () => {
      await page.getByRole("table", { name: "Value forecast" }).waitFor();
    });
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
