// The Markets table's 7-day sparklines: an SVG path drawn from the sparkline prices, and
// words for screen readers.
import { formatNumber, type FormatOptions } from "../format";

export type Trend = "up" | "down" | "flat" | "none";

function usable(prices: readonly number[]): number[] {
  return prices.filter((price) => Number.isFinite(price));
}

const round = (value: number) => Math.round(value * 100) / 100;

/**
 * An SVG path ("M x y L x y …") through `prices`, evenly spaced across `width`, highest
 * price at the top, `padding` units inside each edge; a flat series runs across the middle.
 * Empty with fewer than two prices.
 */
export function sparklinePath(
  prices: readonly number[],
  width: number,
  height: number,
  padding = 1,
): string {
  const values = usable(prices);
  if (values.length < 2) return "";
  const min = Math.min(...values);
  const max = Math.max(...values);
  const spanX = width - 2 * padding;
  const spanY = height - 2 * padding;
  return values
    .map((price, index) => {
      const x = padding + (index * spanX) / (values.length - 1);
      const y = max === min ? height / 2 : padding + ((max - price) / (max - min)) * spanY;
      return `${index === 0 ? "M" : "L"}${round(x)} ${round(y)}`;
    })
    .join(" ");
}

/** Percent change from the first price to the last (null when it cannot be computed). */
export function sparklineChange(prices: readonly number[]): number | null {
  const values = usable(prices);
  const first = values[0];
  const last = values[values.length - 1];
  if (values.length < 2 || first === undefined || last === undefined || first <= 0) return null;
  return (last / first - 1) * 100;
}

/** Which way the series went, "flat" under half a hundredth of a percent either way. */
export function sparklineTrend(prices: readonly number[]): Trend {
  const change = sparklineChange(prices);
  if (change === null) return "none";
  if (Math.abs(change) < 0.005) return "flat";
  return change > 0 ? "up" : "down";
}

/** The accessible name: "7-day trend: up 4.2 %". */
export function sparklineLabel(
  prices: readonly number[],
  options: FormatOptions & { days?: number } = {},
): string {
  const prefix = `${options.days ?? 7}-day trend`;
  const change = sparklineChange(prices);
  const trend = sparklineTrend(prices);
  if (change === null || trend === "none") return `${prefix}: no data`;
  if (trend === "flat") return `${prefix}: flat`;
  const amount = formatNumber(Math.abs(change), {
    locale: options.locale,
    maximumFractionDigits: 1,
  });
  return `${prefix}: ${trend} ${amount} %`;
}
