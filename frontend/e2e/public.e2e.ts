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
    // the bounds' backtest coverage is that of the interval method that made them
    expect(await skill.getByTestId("backtest-coverage").first().textContent()).toMatch(
      /for bounds made by [a-z_+]+ \(over [\d,]+ forecasts\)\.$/,
    );
    // the chance of a rise, said only next to its backtest Brier record
    expect(await skill.getByTestId("probability-up").first().textContent()).toMatch(
      /Chance of a higher close: [\d.]+\s%\. .*Brier skill [+\u2212]/,
    );
    await capture(page, "coin", async () => {
      await page.locator(`${chartReady}[data-forecast="shown"]`).waitFor();
    });
  });

  it("asks for a linked coin's chart data from its HTML, and the page takes it", async () => {
    const early = [
      `/api/v1/coins/${FORECAST_COIN}`,
      `/api/v1/forecasts/${FORECAST_COIN}`,
      `/api/v1/prices/${FORECAST_COIN}/history?interval=1d&limit=10000`,
    ];
    const load = async (scripts: boolean) => {
      const fresh = await newPage(browser);
      const asked: string[] = [];
      fresh.on("request", (request) => {
        const url = new URL(request.url());
        if (url.pathname.startsWith("/api/")) asked.push(url.pathname + url.search);
      });
      if (!scripts) await fresh.route("**/_next/static/**/*.js", (route) => route.abort());
      await fresh.goto(`/coin?id=${FORECAST_COIN}&range=all`);
      return { fresh, asked };
    };

    // With none of the page's scripts, its HTML alone asks for the chart's data.
    const bare = await load(false);
    await expect.poll(() => early.filter((url) => bare.asked.includes(url))).toEqual(early);
    await bare.fresh.context().close();

    // With them, the page takes those answers rather than asking again.
    const full = await load(true);
    await full.fresh.locator(`${chartReady}[data-forecast="shown"]`).waitFor();
    expect(early.map((url) => full.asked.filter((one) => one === url).length)).toEqual([1, 1, 1]);
    await full.fresh.context().close();
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
