// An admin runs a task from the admin page and sees its run finish.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { capture, launch, logIn, newPage } from "./support";

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launch();
  page = await newPage(browser);
  await logIn(page, inject("adminEmail"), inject("adminPassword"));
});

afterAll(async () => {
  await browser?.close();
});

describe("an admin", () => {
  it("runs a task now and sees its run succeed", async () => {
    await page.goto("/admin?tab=tasks");
    await page.getByRole("button", { name: "Run health_check now" }).click();
    const runs = page.getByRole("table", { name: "Task runs" });
    await expect
      .poll(() => runs.getByRole("row").filter({ hasText: "health_check" }).allTextContents(), {
        timeout: 60_000,
        interval: 1000,
      })
      .toEqual(expect.arrayContaining([expect.stringMatching(/succeeded/i)]));
    await capture(page, "admin", async () => {
      await runs.waitFor();
    });
  });

  it("sees the sync state and the model registry", async () => {
    await page.goto("/admin");
    await page.getByRole("tab", { name: "Sync" }).click();
    await page.getByRole("table", { name: "Sync runs" }).waitFor();
    await page.getByRole("tab", { name: "Models" }).click();
    await expect
      .poll(() => page.getByRole("table", { name: "Models" }).getByRole("row").count())
      .toBeGreaterThan(1);
  });
});
