// Time from navigation to a drawn coin chart (with its forecast fan) in headless chromium:
// node bench/chart_timing.mjs BASE_URL PATH RUNS → JSON {cold, warm, inApp}, each
// {drawn: [ms...], seen: [ms...]}.
// drawn: on the page's own clock, from the navigation's start (its time origin) or the
// router's push until the chart's "drawn" performance mark with the fan (price-chart.tsx);
// seen: on this script's clock, until playwright's polling saw the chart's ready state
// (that adds the harness's own lag, up to a few hundred ms on a busy main thread).
// Cold: a fresh browser context (empty cache) per run, after one untimed page load has
// started the browser's processes; warm: the same page loaded again;
// in-app: from the Markets page, the app's own router opens PATH (what a link click does).
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(resolve(import.meta.dirname, "..", "frontend", "package.json"));
const { chromium } = require("playwright-core");
const [base, path, runsText] = process.argv.slice(2);
const runs = Number(runsText ?? "5");
const READY = '[data-testid="price-chart"][data-state="ready"][data-forecast="shown"]';
const DRAWN = "cryptopredict:price-chart-drawn"; // CHART_DRAWN in price-chart.tsx

/** The first drawn-with-fan mark at or after `since` (page clock), in ms after `since`. */
const drawnSince = (page, since) =>
  page.evaluate(
    ({ mark, since }) => {
      const found = performance
        .getEntriesByName(mark)
        .find((entry) => entry.startTime >= since && entry.detail?.fan === true);
      if (!found) throw new Error(`no ${mark} mark with the fan`);
      return found.startTime - since;
    },
    { mark: DRAWN, since },
  );

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const timedLoad = async (page) => {
  const started = performance.now();
  await page.goto(base + path, { waitUntil: "commit" });
  await page.waitForSelector(READY, { timeout: 30_000 });
  const seen = performance.now() - started;
  return { drawn: await drawnSince(page, 0), seen };
};
const results = {};
for (const kind of ["cold", "warm", "inApp"]) results[kind] = { drawn: [], seen: [] };
const record = (kind, { drawn, seen }) => {
  results[kind].drawn.push(drawn);
  results[kind].seen.push(seen);
};
try {
  // Untimed: the browser's own first start (its processes, not the page) is not navigation.
  const warmUp = await browser.newContext();
  await (await warmUp.newPage()).goto(base + "/account");
  await warmUp.close();
  for (let run = 0; run < runs; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    record("cold", await timedLoad(page));
    record("warm", await timedLoad(page));
    await page.goto(base + "/");
    await page.waitForSelector("tr[data-coin]");
    const started = performance.now();
    const pushedAt = await page.evaluate((target) => {
      const at = performance.now();
      window.next.router.push(target);
      return at;
    }, path);
    await page.waitForSelector(READY, { timeout: 30_000 });
    const seen = performance.now() - started;
    record("inApp", { drawn: await drawnSince(page, pushedAt), seen });
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
