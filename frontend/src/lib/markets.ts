// The Markets table's data: rows of the CoinGecko-compatible mirror, checked at run time
// (its OpenAPI schema is untyped), then searched, sorted, paged and overlaid with live prices.

/**
 * One row of `GET /api/v3/coins/markets`, in CoinGecko's shape (the fields this dashboard
 * uses, with CoinGecko's names). A field that is missing or malformed in an answer is null,
 * and shows as "—".
 */
export interface MarketRow {
  id: string;
  symbol: string;
  name: string;
  current_price: number | null;
  market_cap: number | null;
  market_cap_rank: number | null;
  total_volume: number | null;
  price_change_percentage_24h: number | null;
  price_change_percentage_24h_in_currency: number | null;
  price_change_percentage_7d_in_currency: number | null;
  sparkline_in_7d: { price: number[] } | null;
  last_updated: string | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function finite(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function text(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

/** One row, or null when it has no id to link to. */
export function parseMarketRow(value: unknown): MarketRow | null {
  if (!isObject(value)) return null;
  const id = text(value.id);
  if (id === null) return null;
  const sparkline = isObject(value.sparkline_in_7d) ? value.sparkline_in_7d.price : undefined;
  return {
    id,
    symbol: text(value.symbol) ?? "",
    name: text(value.name) ?? id,
    current_price: finite(value.current_price),
    market_cap: finite(value.market_cap),
    market_cap_rank: finite(value.market_cap_rank),
    total_volume: finite(value.total_volume),
    price_change_percentage_24h: finite(value.price_change_percentage_24h),
    price_change_percentage_24h_in_currency: finite(value.price_change_percentage_24h_in_currency),
    price_change_percentage_7d_in_currency: finite(value.price_change_percentage_7d_in_currency),
    sparkline_in_7d: Array.isArray(sparkline)
      ? { price: sparkline.filter((p): p is number => finite(p) !== null) }
      : null,
    last_updated: text(value.last_updated),
  };
}

/** Every usable row of an answer; anything but a list is an error. */
export function parseMarketRows(body: unknown): MarketRow[] {
  if (!Array.isArray(body)) throw new Error("The markets answer was not a list of coins.");
  return body.map(parseMarketRow).filter((row): row is MarketRow => row !== null);
}

/** The 24 h change, preferring the "in currency" field asked for with price_change_percentage. */
export function change24h(row: MarketRow): number | null {
  return row.price_change_percentage_24h_in_currency ?? row.price_change_percentage_24h;
}

/** Rows whose name or symbol contains the query (any case); all rows for a blank query. */
export function searchRows(rows: readonly MarketRow[], query: string): MarketRow[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return [...rows];
  return rows.filter(
    (row) => row.name.toLowerCase().includes(needle) || row.symbol.toLowerCase().includes(needle),
  );
}

export type SortKey = "rank" | "name" | "price" | "change24h" | "change7d" | "marketCap";
export type SortDirection = "ascending" | "descending";
export interface Sort {
  key: SortKey;
  direction: SortDirection;
}

export const DEFAULT_SORT: Sort = { key: "rank", direction: "ascending" };

const SORT_VALUE: Record<SortKey, (row: MarketRow) => number | string | null> = {
  rank: (row) => row.market_cap_rank,
  name: (row) => row.name.toLowerCase(),
  price: (row) => row.current_price,
  change24h: change24h,
  change7d: (row) => row.price_change_percentage_7d_in_currency,
  marketCap: (row) => row.market_cap,
};

/** The sort after clicking `key`: the same column flips, a new one starts in its natural order. */
export function nextSort(current: Sort, key: SortKey): Sort {
  if (current.key === key) {
    return { key, direction: current.direction === "ascending" ? "descending" : "ascending" };
  }
  return { key, direction: key === "rank" || key === "name" ? "ascending" : "descending" };
}

/** Sorted copy; missing values last in either direction, ties by rank then id. */
export function sortRows(rows: readonly MarketRow[], sort: Sort): MarketRow[] {
  const value = SORT_VALUE[sort.key];
  const sign = sort.direction === "ascending" ? 1 : -1;
  const tieBreak = (a: MarketRow, b: MarketRow) =>
    (a.market_cap_rank ?? Infinity) - (b.market_cap_rank ?? Infinity) || a.id.localeCompare(b.id);
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) return x === y ? tieBreak(a, b) : x === null ? 1 : -1;
    const order = typeof x === "string" ? x.localeCompare(String(y)) : x - (y as number);
    return order !== 0 ? sign * order : tieBreak(a, b);
  });
}

export interface LivePrice {
  price: number;
  timestamp: string;
}

/** Rows with the live prices received since they loaded, where a live price is not older. */
export function applyLivePrices(
  rows: readonly MarketRow[],
  live: Readonly<Record<string, LivePrice>>,
): MarketRow[] {
  return rows.map((row) => {
    const update = live[row.id];
    if (!update || !Number.isFinite(update.price)) return row;
    const rowTime = row.last_updated ? Date.parse(row.last_updated) : Number.NaN;
    const liveTime = Date.parse(update.timestamp);
    if (Number.isFinite(rowTime) && Number.isFinite(liveTime) && liveTime < rowTime) return row;
    return { ...row, current_price: update.price };
  });
}
