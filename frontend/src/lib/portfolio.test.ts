import { describe, expect, it } from "vitest";
import { bandRow, percentOf, performanceFigures, RANGES, type Performance } from "./portfolio";

const performance: Performance = {
  portfolio_id: 1,
  range: "30D",
  start: "2024-01-01",
  end: "2024-01-30",
  start_value: "100",
  end_value: "110",
  inflow: "0",
  outflow: "0",
  net_invested: "0",
  absolute_gain: "10",
  twr: 0.1,
  mwr_annualized: 2.1,
  mwr_period: 0.1,
  max_drawdown: -0.05,
  volatility: null,
  days: 30,
  series_days: ["2024-01-30"],
  growth: [1.1],
  benchmarks: [],
  definitions: { twr: "Time-weighted return: daily returns linked" },
  pending_from: null,
};

describe("portfolio figures", () => {
  it("turns the API's ratios into percentages and keeps unknowns unknown", () => {
    expect(percentOf(0.1234)).toBeCloseTo(12.34);
    expect(percentOf(null)).toBeNull();
    expect(percentOf(Number.NaN)).toBeNull();
  });

  it("labels every performance figure with the API's definition", () => {
    const figures = performanceFigures(performance);
    expect(figures.map((f) => f.key)).toEqual([
      "twr",
      "mwr_period",
      "mwr_annualized",
      "max_drawdown",
      "volatility",
    ]);
    expect(figures[0]).toMatchObject({ percent: 10, definition: "Time-weighted return: daily returns linked" });
    expect(figures[3]?.percent).toBeCloseTo(-5);
    expect(figures[4]?.percent).toBeNull();
  });

  it("offers the ranges in order and reads a band's ends", () => {
    expect(RANGES).toEqual(["1D", "7D", "30D", "90D", "YTD", "1Y", "ALL"]);
    const row = bandRow({
      horizon: 7,
      quantiles: { "5": "90", "50": "100", "95": "120" },
      target_from: null,
      target_to: null,
      forecast_coins: [],
      flat_coins: [],
    });
    expect(row).toEqual({ low: "90", median: "100", high: "120" });
  });
});
