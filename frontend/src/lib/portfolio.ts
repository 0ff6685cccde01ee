// Portfolio figures as the dashboard shows them. The server values holdings, replays the
// lots and computes every return (GET /portfolios/{id}/summary, /performance, /forecast);
// these helpers only name and arrange what it answers.
import type { Schemas } from "./api/client";

export type CostBasisMethod = Schemas["PortfolioRead"]["cost_basis_method"];
export type PerformanceRange = Schemas["PortfolioPerformance"]["range"];
export type Performance = Schemas["PortfolioPerformance"];
export type ForecastBand = Schemas["ValueBand"];

/** How each cost-basis method reads in a sentence ("cost by FIFO (oldest coins first)"). */
export const METHOD_NAMES: Record<CostBasisMethod, string> = {
  fifo: "FIFO (oldest coins first)",
  lifo: "LIFO (newest coins first)",
  hifo: "HIFO (dearest coins first)",
  average: "average cost",
};

/** The ranges the performance card offers, in order. */
export const RANGES: readonly Exclude<PerformanceRange, "custom">[] = [
  "1D",
  "7D",
  "30D",
  "90D",
  "YTD",
  "1Y",
  "ALL",
];

/** A ratio from the API (0.05) in percent (5), null kept. */
export function percentOf(ratio: number | null | undefined): number | null {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? null : ratio * 100;
}

/** The performance figures to show, each with its label and the API's own definition. */
export function performanceFigures(
  performance: Performance,
): { key: string; label: string; percent: number | null; definition: string }[] {
  const define = (key: string) => performance.definitions?.[key] ?? "";
  return [
    { key: "twr", label: "Time-weighted return", percent: percentOf(performance.twr), definition: define("twr") },
    {
      key: "mwr_period",
      label: "Money-weighted return",
      percent: percentOf(performance.mwr_period),
      definition: define("mwr_period"),
    },
    {
      key: "mwr_annualized",
      label: "Money-weighted, per year",
      percent: percentOf(performance.mwr_annualized),
      definition: define("mwr_annualized"),
    },
    {
      key: "max_drawdown",
      label: "Max drawdown",
      percent: percentOf(performance.max_drawdown),
      definition: define("max_drawdown"),
    },
    {
      key: "volatility",
      label: "Volatility (annualised)",
      percent: percentOf(performance.volatility),
      definition: define("volatility"),
    },
  ];
}

/** A band's 5, 50 and 95 % values, as the forecast card's row shows them. */
export function bandRow(band: ForecastBand): { low: string | null; median: string | null; high: string | null } {
  return {
    low: band.quantiles["5"] ?? null,
    median: band.quantiles["50"] ?? null,
    high: band.quantiles["95"] ?? null,
  };
}
