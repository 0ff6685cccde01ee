// The forecast fan: the median from the origin through each horizon's point, and the 50 %
// (from the served quantiles, when there are any), 80 % and 95 % intervals as bands that
// start at the origin price with zero width.
import type { ChartDataset } from "chart.js";
import type { Schemas } from "../api/client";
import { withAlpha, type ChartColors } from "./colors";
import type { XY } from "./series";

type Forecast = Pick<
  Schemas["Forecast"],
  "horizon" | "origin_at" | "origin_price" | "target_at" | "point" | "interval_80" | "interval_95"
> &
  Partial<Pick<Schemas["Forecast"], "quantiles">>;

export interface Fan {
  originAt: number;
  originPrice: number;
  /** The last target instant (the fan's right edge). */
  end: number;
  horizons: number[];
  median: XY[];
  /** The 25-75 % quantiles; empty when no horizon was served with a quantile fan. */
  lower50: XY[];
  upper50: XY[];
  /** Empty when no horizon has that interval (not calibrated yet). */
  lower80: XY[];
  upper80: XY[];
  lower95: XY[];
  upper95: XY[];
}

/**
 * The fan of the newest origin's forecasts, horizons up to `maxHorizon` days (the shortest
 * is always kept); null when there is no usable forecast.
 *
 * Instants are bar starts, as the API gives them (a daily close at 00:00 of its day). On a
 * chart of finer bars, `shiftMs` (see alignShift) moves the fan to the finer bar holding
 * the same close, so the origin meets the line.
 */
export function forecastFan(
  forecasts: readonly Forecast[],
  { maxHorizon = Infinity, shiftMs = 0 }: { maxHorizon?: number; shiftMs?: number } = {},
): Fan | null {
  const usable = forecasts.filter(
    (f) =>
      Number.isFinite(Date.parse(f.origin_at)) &&
      Number.isFinite(Date.parse(f.target_at)) &&
      Number.isFinite(f.point) &&
      Number.isFinite(f.origin_price),
  );
  if (usable.length === 0) return null;
  const newestOrigin = Math.max(...usable.map((f) => Date.parse(f.origin_at)));
  const originAt = newestOrigin + shiftMs;
  const at = (iso: string) => Date.parse(iso) + shiftMs;
  const fromOrigin = usable
    .filter((f) => Date.parse(f.origin_at) === newestOrigin)
    .sort((a, b) => a.horizon - b.horizon);
  const first = fromOrigin[0];
  if (!first) return null;
  const shown = fromOrigin.filter((f, index) => index === 0 || f.horizon <= maxHorizon);
  const originPrice = first.origin_price;
  const origin: XY = { x: originAt, y: originPrice };
  const band = (pick: (f: Forecast) => number | undefined): XY[] => {
    const points = shown.flatMap((f) => {
      const y = pick(f);
      return y === undefined || !Number.isFinite(y) ? [] : [{ x: at(f.target_at), y }];
    });
    return points.length === 0 ? [] : [origin, ...points];
  };
  return {
    originAt,
    originPrice,
    end: Math.max(...shown.map((f) => at(f.target_at))),
    horizons: shown.map((f) => f.horizon),
    median: [origin, ...shown.map((f) => ({ x: at(f.target_at), y: f.point }))],
    lower50: band((f) => f.quantiles?.["25"]),
    upper50: band((f) => f.quantiles?.["75"]),
    lower80: band((f) => f.interval_80?.lower),
    upper80: band((f) => f.interval_80?.upper),
    lower95: band((f) => f.interval_95?.lower),
    upper95: band((f) => f.interval_95?.upper),
  };
}

const BAR_MS: Record<string, number> = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 };

/**
 * How far to move a fan of `forecastInterval` bars onto a chart of `chartInterval` bars: a
 * daily close (bar start 00:00) is the hourly bar starting at 23:00 of the same day.
 */
export function alignShift(forecastInterval: string, chartInterval: string): number {
  const forecast = BAR_MS[forecastInterval];
  const chart = BAR_MS[chartInterval];
  return forecast === undefined || chart === undefined ? 0 : Math.max(0, forecast - chart);
}

/** The largest horizon worth drawing on a range of `days` (all of them for everything). */
export function fanHorizonLimit(days: number | null): number {
  return days === null ? Infinity : Math.max(1, days);
}

/** The fan belongs on the chart when its origin lies inside the window drawn. */
export function fanReachesWindow(fan: Fan | null, windowMin: number | null): boolean {
  return fan !== null && windowMin !== null && fan.originAt >= windowMin;
}

export type FanDataset = ChartDataset<"line", XY[]>;

/**
 * Chart.js line datasets for the fan, bands first so the median draws on top: each upper
 * bound fills down to the lower bound just before it (`fill: "-1"`), wider bands lighter.
 */
export function fanDatasets(fan: Fan, colors: Pick<ChartColors, "primary">): FanDataset[] {
  const bound = (label: string, data: XY[], fill: false | "-1", alpha: number): FanDataset => ({
    type: "line",
    label,
    data,
    fill,
    backgroundColor: withAlpha(colors.primary, alpha),
    borderColor: withAlpha(colors.primary, alpha * 2),
    borderWidth: 1,
    pointRadius: 0,
    pointHitRadius: 4,
    tension: 0,
    yAxisID: "y",
  });
  const sets: FanDataset[] = [];
  if (fan.lower95.length > 1 && fan.upper95.length > 1) {
    sets.push(bound("95 % interval, lower", fan.lower95, false, 0.1));
    sets.push(bound("95 % interval, upper", fan.upper95, "-1", 0.1));
  }
  if (fan.lower80.length > 1 && fan.upper80.length > 1) {
    sets.push(bound("80 % interval, lower", fan.lower80, false, 0.22));
    sets.push(bound("80 % interval, upper", fan.upper80, "-1", 0.22));
  }
  if (fan.lower50.length > 1 && fan.upper50.length > 1) {
    sets.push(bound("50 % interval, lower", fan.lower50, false, 0.34));
    sets.push(bound("50 % interval, upper", fan.upper50, "-1", 0.34));
  }
  sets.push({
    type: "line",
    label: "Forecast (median)",
    data: fan.median,
    fill: false,
    borderColor: colors.primary,
    borderDash: [6, 4],
    borderWidth: 2,
    pointRadius: 2,
    pointHitRadius: 6,
    tension: 0,
    yAxisID: "y",
  });
  return sets;
}
