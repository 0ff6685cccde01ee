// The price chart's ranges and what to ask the API for each: hourly bars for short ranges,
// daily for long ones, anchored at the newest stored bar (not the clock, so an old series
// such as the offline snapshot still fills the chart).

export type RangeKey = "1D" | "7D" | "1M" | "3M" | "1Y" | "All";
export type BarInterval = "1h" | "1d";

export interface RangeSpec {
  key: RangeKey;
  /** In words, for screen readers and notes. */
  label: string;
  /** Length in days; null for everything stored. */
  days: number | null;
  /** The bars that suit the range. */
  interval: BarInterval;
}

export const RANGES: readonly RangeSpec[] = [
  { key: "1D", label: "1 day", days: 1, interval: "1h" },
  { key: "7D", label: "7 days", days: 7, interval: "1h" },
  { key: "1M", label: "1 month", days: 30, interval: "1h" },
  { key: "3M", label: "3 months", days: 90, interval: "1d" },
  { key: "1Y", label: "1 year", days: 365, interval: "1d" },
  { key: "All", label: "all stored history", days: null, interval: "1d" },
];

export const DEFAULT_RANGE: RangeKey = "3M";

/** The API's largest `limit` for price series (MAX_HISTORY_POINTS on the server). */
export const MAX_POINTS = 10_000;

const DAY_MS = 86_400_000;
const BARS_PER_DAY: Record<BarInterval, number> = { "1h": 24, "1d": 1 };

export function rangeSpec(key: string | null | undefined): RangeSpec {
  const wanted = key?.toLowerCase();
  return (
    RANGES.find((range) => range.key.toLowerCase() === wanted) ??
    (RANGES.find((r) => r.key === DEFAULT_RANGE) as RangeSpec)
  );
}

export interface SeriesQuery {
  interval: BarInterval;
  /** The newest `limit` bars: the range plus the bar it starts from. */
  limit: number;
}

/** Query parameters for /prices/{coin}/history or /ohlc over `range` in `interval` bars. */
export function seriesQuery(range: RangeSpec, interval: BarInterval = range.interval): SeriesQuery {
  if (range.days === null) return { interval, limit: MAX_POINTS };
  return { interval, limit: Math.min(MAX_POINTS, range.days * BARS_PER_DAY[interval] + 1) };
}

interface Timed {
  timestamp: string;
}

/** The newest point's instant in ms (NaN for none). */
export function newestTime(points: readonly Timed[]): number {
  const last = points[points.length - 1];
  return last ? Date.parse(last.timestamp) : Number.NaN;
}

/** Points within `days` of the newest one (all of them for null); input oldest first. */
export function trimToSpan<T extends Timed>(points: readonly T[], days: number | null): T[] {
  const newest = newestTime(points);
  if (days === null || !Number.isFinite(newest)) return [...points];
  const start = newest - days * DAY_MS;
  return points.filter((point) => Date.parse(point.timestamp) >= start);
}

/**
 * Whether hourly bars cover enough of `range` to draw it: at least two, reaching back at
 * least half the range from the newest. Otherwise the chart falls back to daily bars.
 */
export function hourlyCovers(points: readonly Timed[], range: RangeSpec): boolean {
  if (points.length < 2) return false;
  if (range.days === null) return true;
  const first = points[0];
  const newest = newestTime(points);
  if (!first || !Number.isFinite(newest)) return false;
  return Date.parse(first.timestamp) <= newest - (range.days * DAY_MS) / 2;
}

/** Why the chart shows daily bars for a range meant for hourly ones, in words. */
export function fallbackNote(hourlyPoints: number, range: RangeSpec): string {
  return hourlyPoints < 2
    ? "No hourly prices are stored for this coin, so the chart shows daily closes instead."
    : `Hourly prices cover only part of the last ${range.label}, so the chart shows daily closes instead.`;
}

/** The x-axis window: `days` back from the newest point, up to `end` when later (the fan). */
export function chartWindow(
  points: readonly Timed[],
  days: number | null,
  end?: number | null,
): { min: number; max: number } | null {
  const newest = newestTime(points);
  const first = points[0];
  if (!first || !Number.isFinite(newest)) return null;
  const min = days === null ? Date.parse(first.timestamp) : newest - days * DAY_MS;
  return { min, max: Math.max(newest, end ?? newest) };
}
