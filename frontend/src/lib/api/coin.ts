// The Coin page's price series: hourly bars for short ranges, falling back to daily bars
// (with a note saying so) when the database holds too few hourly ones.
import {
  fallbackNote,
  hourlyCovers,
  RANGES,
  rangeSpec,
  seriesQuery,
  trimToSpan,
  type BarInterval,
  type RangeSpec,
} from "../charts/range";
import { api, unwrap, type Schemas } from "./client";
import type { EarlyPlan } from "./early";

export type PricePoint = Schemas["PricePoint"];
export type OhlcBar = Schemas["OhlcBar"];

export type PriceSeries =
  | { mode: "line"; interval: BarInterval; note: string | null; truncated: boolean; points: PricePoint[] }
  | { mode: "candles"; interval: BarInterval; note: string | null; truncated: boolean; bars: OhlcBar[] };

/** The coin's record (GET /api/v1/coins/{coin}). */
export const fetchCoin = (coin: string, signal?: AbortSignal) =>
  unwrap(api.GET("/api/v1/coins/{coin}", { params: { path: { coin } }, signal }));

/** The coin's served forecasts (GET /api/v1/forecasts/{coin}). */
export const fetchCoinForecasts = (coin: string, signal?: AbortSignal) =>
  unwrap(api.GET("/api/v1/forecasts/{coin}", { params: { path: { coin } }, signal }));

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

/** Whether this page load opened the Coin page (false on the server). */
export function openedOnCoinPage(): boolean {
  return typeof window !== "undefined" && window.location.pathname.replace(/\/$/, "") === "/coin";
}

/** The query the opening request for `range`'s line asks with, as the address writes it. */
function firstSeriesQuery(range: RangeSpec): string {
  const query = seriesQuery(range);
  return new URLSearchParams({ interval: query.interval, limit: String(query.limit) }).toString();
}

/** What a load of /coin?id=...&range=... asks for from its HTML, before its scripts run:
 * the coin, its forecasts and the range's first prices (see early.ts). The page's own
 * requests for them (fetchCoin, fetchCoinForecasts, fetchPriceSeries) take these answers. */
export const COIN_PAGE_EARLY: EarlyPlan = {
  urls: ["/api/v1/coins/{id}", "/api/v1/forecasts/{id}", "/api/v1/prices/{id}/history?{range}"],
  params: ["id"],
  choices: {
    range: Object.fromEntries([
      ["", firstSeriesQuery(rangeSpec(null))],
      ...RANGES.map((range) => [range.key.toLowerCase(), firstSeriesQuery(range)]),
    ]),
  },
};
