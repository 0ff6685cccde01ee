// Shared by the browser tests: chromium, signing in through the UI, and each page's
// screenshots (light and dark, 1280 and 375 px) with an axe-core check of each.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { expect, inject } from "vitest";
import { SCREENSHOTS } from "./paths";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
export const WIDTHS = [1280, 375] as const;
export const THEMES = ["light", "dark"] as const;

export function baseUrl(): string {
  return inject("baseUrl");
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

export async function newPage(browser: Browser, width: number = 1280): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, baseURL: baseUrl() });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  return page;
}

/** Log in through the account page's form and wait for the header to name the user. */
export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto("/account");
  const form = page.getByRole("form", { name: "Log in" });
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("account-link").waitFor();
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

declare global {
  interface Window {
    axe?: { run: (context: Document) => Promise<{ violations: AxeViolation[] }> };
  }
}

/** Serious and critical accessibility violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = window.axe;
    if (!axe) throw new Error("axe-core did not load");
    return (await axe.run(document)).violations;
  });
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes
          .slice(0, 3)
          .map((node) => JSON.stringify(node.target))
          .join(", ")}`,
    );
}

/**
 * Screenshot `page` (already showing what `ready` waits for) in both themes at both widths
 * into e2e/artifacts/screenshots/NAME-THEME-WIDTH.png, and assert axe finds nothing
 * serious or critical in any of them.
 */
export async function capture(page: Page, name: string, ready: () => Promise<void>): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const problems: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const theme of THEMES) {
      await page.emulateMedia({ colorScheme: theme, reducedMotion: "reduce" });
      await expect
        .poll(() => page.evaluate(() => document.documentElement.classList.contains("dark")))
        .toBe(theme === "dark");
      await ready();
      await page.screenshot({ path: join(SCREENSHOTS, `${name}-${theme}-${width}.png`), fullPage: true });
      problems.push(...(await seriousViolations(page)).map((problem) => `${theme} ${width}px: ${problem}`));
    }
  }
  expect(problems, `accessibility of ${name}`).toEqual([]);
}
