// The performance card's chart: the portfolio's time-weighted wealth index against its
// benchmarks' prices, each as the % change since the window's start. Pure, tested without a
// canvas.
import type { ChartConfiguration, TooltipItem } from "chart.js";
import { formatPercent } from "../format";
import { withAlpha, type ChartColors } from "./colors";

export interface GrowthSeries {
  label: string;
  /** What 1 at the start is worth at the end of each day (null: no price yet). */
  growth: (number | null)[];
}

export type GrowthChartConfig = ChartConfiguration<"line", { x: number; y: number | null }[]>;

/** The days as chart x values: each day's end (the next midnight UTC), in ms. */
export function dayEnds(days: readonly string[]): number[] {
  return days.map((day) => Date.parse(`${day}T00:00:00Z`) + 86_400_000);
}

/** % change since the start, from a growth of 1. */
export function changePercent(growth: number | null): number | null {
  return growth === null || !Number.isFinite(growth) ? null : (growth - 1) * 100;
}

export function growthChartConfig(
  days: readonly string[],
  series: readonly GrowthSeries[],
  colors: ChartColors,
): GrowthChartConfig {
  const x = dayEnds(days);
  const palette = [colors.primary, colors.muted, withAlpha(colors.foreground, 0.45)];
  return {
    type: "line",
    data: {
      datasets: series.map((s, i) => ({
        label: s.label,
        data: x.map((time, j) => ({ x: time, y: changePercent(s.growth[j] ?? null) })),
        borderColor: palette[i % palette.length],
        borderWidth: i === 0 ? 2 : 1.5,
        borderDash: i === 0 ? [] : [4, 3],
        pointRadius: 0,
        spanGaps: true,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { type: "time", time: { unit: days.length > 120 ? "month" : "day" }, grid: { display: false } },
        y: {
          ticks: { callback: (value) => formatPercent(Number(value), { digits: 0 }) },
          grid: { color: colors.border },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item: TooltipItem<"line">) =>
              `${item.dataset.label ?? ""}: ${formatPercent(item.parsed.y)}`,
          },
        },
      },
    },
  };
}
