// What anyone sees without an account: the markets, a coin with its chart, forecast fan
// and skill panel, and the accuracy scoreboard; the stale-data banner on the snapshot.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FORECAST_COIN } from "./paths";
import { capture, launch, newPage } from "./support";

let browser: Browser;
let page: Page;

beforeAll(async () => {
  browser = await launch();
  page = await newPage(browser);
});

afterAll(async () => {
  await browser?.close();
});

const chartReady = '[data-testid="price-chart"][data-state="ready"]';

describe("without an account", () => {
  it("lists the markets and says the snapshot's prices are not live", async () => {
    await page.goto("/");
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toBe("Markets");
    const row = page.getByRole("row").filter({ hasText: "Bitcoin" });
    await row.waitFor();
    await expect.poll(() => row.textContent()).toMatch(/\$[\d,]+\.\d\d/);
    const banner = page.getByTestId("stale-banner");
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/not live/);
    await capture(page, "markets", async () => {
      await row.waitFor();
    });
  });

  it("searches the markets", async () => {
    await page.goto("/");
    await page.getByRole("row").filter({ hasText: "Bitcoin" }).waitFor();
    await page.getByRole("searchbox").fill("doge");
    await expect
      .poll(async () => (await page.getByRole("row").allTextContents()).slice(1).join("|"))
      .toMatch(/^[^|]*Dogecoin[^|]*$/);
  });

  it("opens a coin: price chart, forecast fan and skill panel", async () => {
    await page.goto("/");
    await page.getByRole("link", { name: /Bitcoin/ }).first().click();
    await page.waitForURL(`**/coin?id=${FORECAST_COIN}**`);
    await page.locator(`${chartReady}[data-forecast="shown"]`).waitFor();
    const skill = page.getByRole("region", { name: /skill/i });
    await skill.waitFor();
    expect(await skill.textContent()).toMatch(/naive/i);
    await capture(page, "coin", async () => {
      await page.locator(`${chartReady}[data-forecast="shown"]`).waitFor();
    });
  });

  it("says so when a coin does not exist", async () => {
    await page.goto("/coin?id=no-such-coin");
    await page.getByRole("alert").filter({ hasText: /no-such-coin|not found/i }).first().waitFor();
  });

  it("shows the accuracy scoreboard", async () => {
    await page.goto("/accuracy");
    await expect.poll(() => page.getByRole("heading", { level: 1 }).textContent()).toMatch(/Accuracy/);
    await page.locator("table, [data-testid=empty-state]").first().waitFor();
    await capture(page, "accuracy", async () => {
      await page.locator("table, [data-testid=empty-state]").first().waitFor();
    });
  });
});
