// Time from navigation to a drawn coin chart (with its forecast fan) in headless chromium:
// node bench/chart_timing.mjs BASE_URL PATH RUNS → JSON {cold, warm, inApp: [ms...]}.
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const timed = async (page) => {
  const started = performance.now();
  await page.goto(base + path, { waitUntil: "commit" });
  await page.waitForSelector(READY, { timeout: 30_000 });
  return performance.now() - started;
};
const cold = [];
const warm = [];
const inApp = [];
try {
  // Untimed: the browser's own first start (its processes, not the page) is not navigation.
  const warmUp = await browser.newContext();
  await (await warmUp.newPage()).goto(base + "/account");
  await warmUp.close();
  for (let run = 0; run < runs; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    cold.push(await timed(page));
    warm.push(await timed(page));
    await page.goto(base + "/");
    await page.waitForSelector("tr[data-coin]");
    const started = performance.now();
    await page.evaluate((target) => window.next.router.push(target), path);
    await page.waitForSelector(READY, { timeout: 30_000 });
    inApp.push(performance.now() - started);
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ cold, warm, inApp }));
