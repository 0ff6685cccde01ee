// The Coin page's price series: hourly bars for short ranges, falling back to daily bars
// (with a note saying so) when the database holds too few hourly ones.
import { fallbackNote, hourlyCovers, seriesQuery, trimToSpan, type BarInterval, type RangeSpec } from "../charts/range";
import { api, unwrap, type Schemas } from "./client";

export type PricePoint = Schemas["PricePoint"];
export type OhlcBar = Schemas["OhlcBar"];

export type PriceSeries =
  | { mode: "line"; interval: BarInterval; note: string | null; truncated: boolean; points: PricePoint[] }
  | { mode: "candles"; interval: BarInterval; note: string | null; truncated: boolean; bars: OhlcBar[] };

async function history(coin: string, range: RangeSpec, interval: BarInterval, signal?: AbortSignal) {
  const query = seriesQuery(range, interval);
  const answer = await unwrap(
    api.GET("/api/v1/prices/{coin}/history", { params: { path: { coin }, query }, signal }),
  );
  return { items: trimToSpan(answer.points, range.days), truncated: answer.truncated };
}

async function ohlc(coin: string, range: RangeSpec, interval: BarInterval, signal?: AbortSignal) {
  const query = seriesQuery(range, interval);
  const answer = await unwrap(
    api.GET("/api/v1/prices/{coin}/ohlc", { params: { path: { coin }, query }, signal }),
  );
  return { items: trimToSpan(answer.bars, range.days), truncated: answer.truncated };
}

/** The range's bars, in the interval that suits it or else daily. */
async function withFallback<T extends { timestamp: string }>(
  load: (interval: BarInterval) => Promise<{ items: T[]; truncated: boolean }>,
  range: RangeSpec,
) {
  if (range.interval === "1h") {
    const hourly = await load("1h");
    if (hourlyCovers(hourly.items, range)) return { interval: "1h" as const, note: null, ...hourly };
    const daily = await load("1d");
    return { interval: "1d" as const, note: fallbackNote(hourly.items.length, range), ...daily };
  }
  return { interval: range.interval, note: null, ...(await load(range.interval)) };
}

/** Prices over `range` as a line (closes) or as candles (OHLC bars). */
export async function fetchPriceSeries(
  coin: string,
  range: RangeSpec,
  mode: "line" | "candles",
  signal?: AbortSignal,
): Promise<PriceSeries> {
  if (mode === "line") {
    const { items, ...rest } = await withFallback((i) => history(coin, range, i, signal), range);
    return { mode, ...rest, points: items };
  }
  const { items, ...rest } = await withFallback((i) => ohlc(coin, range, i, signal), range);
  return { mode, ...rest, bars: items };
}

/** When a sync last stored prices (GET /api/v1/sync/freshness): null when none is on record. */
export async function fetchLastSync(signal?: AbortSignal): Promise<string | null> {
  const freshness = await unwrap(api.GET("/api/v1/sync/freshness", { signal }));
  return freshness.last_success_at ?? null;
}

/** The address's query when this page load opened the Coin page (`/coin?id=...`), for the
 * requests its modules start before React mounts; null anywhere else or on the server. */
export function coinPageQuery(): URLSearchParams | null {
  if (typeof window === "undefined") return null;
  if (window.location.pathname.replace(/\/$/, "") !== "/coin") return null;
  return new URLSearchParams(window.location.search);
}
