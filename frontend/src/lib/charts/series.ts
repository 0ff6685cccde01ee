// Price series from the API into the plain {x, y} arrays Chart.js draws without parsing
// (x in epoch milliseconds), and OHLC bars into candles.
import type { Schemas } from "../api/client";

export interface XY {
  x: number;
  y: number;
}

export interface Candle {
  x: number;
  o: number;
  h: number;
  l: number;
  c: number;
}

type PricePoint = Pick<Schemas["PricePoint"], "timestamp" | "price" | "close">;
type OhlcBar = Pick<Schemas["OhlcBar"], "timestamp" | "open" | "high" | "low" | "close">;
type WithVolume = { timestamp: string; volume: number | null };

const isFiniteNumber = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value);

/** Sorted by x, one point per x (the last wins): what the decimation plugin requires. */
function ordered<T extends { x: number }>(points: T[]): T[] {
  points.sort((a, b) => a.x - b.x);
  return points.filter((point, index) => points[index + 1]?.x !== point.x);
}

/** The line: each bar's close (its price when no close is stored). */
export function linePoints(points: readonly PricePoint[]): XY[] {
  const out: XY[] = [];
  for (const point of points) {
    const x = Date.parse(point.timestamp);
    const y = isFiniteNumber(point.close) ? point.close : point.price;
    if (Number.isFinite(x) && isFiniteNumber(y)) out.push({ x, y });
  }
  return ordered(out);
}

/** Volume bars; bars without a volume are left out. */
export function volumePoints(points: readonly WithVolume[]): XY[] {
  const out: XY[] = [];
  for (const point of points) {
    const x = Date.parse(point.timestamp);
    if (Number.isFinite(x) && isFiniteNumber(point.volume)) out.push({ x, y: point.volume });
  }
  return ordered(out);
}

/** Candles for chartjs-chart-financial; bars with a missing price are left out. */
export function candles(bars: readonly OhlcBar[]): Candle[] {
  const out: Candle[] = [];
  for (const bar of bars) {
    const x = Date.parse(bar.timestamp);
    const { open: o, high: h, low: l, close: c } = bar;
    if ([x, o, h, l, c].every(isFiniteNumber)) out.push({ x, o, h, l, c });
  }
  return ordered(out);
}
