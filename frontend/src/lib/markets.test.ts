import { describe, expect, it } from "vitest";
import {
  applyLivePrices,
  change24h,
  DEFAULT_SORT,
  nextSort,
  parseMarketRow,
  parseMarketRows,
  searchRows,
  sortRows,
  type MarketRow,
} from "./markets";

// As the server's /api/v3/coins/markets answers (bitcoin, trimmed).
const BITCOIN = {
  id: "bitcoin",
  symbol: "btc",
  name: "Bitcoin",
  image: "https://assets.coingecko.com/coins/images/1/large/bitcoin.png",
  current_price: 34235.19345116,
  market_cap: 641899161593.76,
  market_cap_rank: 1,
  total_volume: 26501259869.76,
  price_change_percentage_24h: 1.4496265021488153,
  last_updated: "2021-07-06T00:00:00.000Z",
  sparkline_in_7d: { price: [35040.8, 33572.1, 33897.0, 34668.5, 35287.7, 33746.0, 34235.1] },
  price_change_percentage_24h_in_currency: 1.4496265021488153,
  price_change_percentage_7d_in_currency: -4.551673918494858,
};

function row(id: string, fields: Partial<MarketRow> = {}): MarketRow {
  return { ...(parseMarketRow({ id, name: id, symbol: id.slice(0, 3) }) as MarketRow), ...fields };
}

describe("parseMarketRow", () => {
  it("keeps CoinGecko's fields", () => {
    const parsed = parseMarketRow(BITCOIN);
    expect(parsed).toMatchObject({
      id: "bitcoin",
      symbol: "btc",
      current_price: 34235.19345116,
      market_cap_rank: 1,
      price_change_percentage_7d_in_currency: -4.551673918494858,
    });
    expect(parsed?.sparkline_in_7d?.price).toHaveLength(7);
  });

  it("turns missing or malformed fields into null, so they show a dash", () => {
    const parsed = parseMarketRow({
      id: "x",
      current_price: "12",
      market_cap: null,
      price_change_percentage_24h: Number.NaN,
      sparkline_in_7d: { price: [1, null, 2, "3"] },
    });
    expect(parsed).toMatchObject({
      name: "x",
      symbol: "",
      current_price: null,
      market_cap: null,
      price_change_percentage_24h: null,
      price_change_percentage_7d_in_currency: null,
      last_updated: null,
    });
    expect(parsed?.sparkline_in_7d?.price).toEqual([1, 2]);
    expect(parseMarketRow({ ...BITCOIN, sparkline_in_7d: undefined })?.sparkline_in_7d).toBeNull();
  });

  it("drops rows without an id and refuses anything but a list", () => {
    expect(parseMarketRows([BITCOIN, { name: "no id" }, null, 3])).toHaveLength(1);
    expect(() => parseMarketRows({ error: "invalid vs_currency" })).toThrow(/not a list/);
  });

  it("prefers the in-currency 24 h change", () => {
    expect(change24h(row("a", { price_change_percentage_24h: 1, price_change_percentage_24h_in_currency: 2 }))).toBe(2);
    expect(change24h(row("a", { price_change_percentage_24h: 1 }))).toBe(1);
  });
});

describe("searchRows", () => {
  const rows = [row("bitcoin", { name: "Bitcoin", symbol: "btc" }), row("ethereum", { name: "Ethereum", symbol: "eth" })];
  it("matches name or symbol in any case, and everything for a blank query", () => {
    expect(searchRows(rows, "ETH").map((r) => r.id)).toEqual(["ethereum"]);
    expect(searchRows(rows, " coin ").map((r) => r.id)).toEqual(["bitcoin"]);
    expect(searchRows(rows, "btc").map((r) => r.id)).toEqual(["bitcoin"]);
    expect(searchRows(rows, "  ")).toHaveLength(2);
    expect(searchRows(rows, "doge")).toEqual([]);
  });
});

describe("sorting", () => {
  const rows = [
    row("b", { name: "Beta", market_cap_rank: 2, current_price: 5, market_cap: null }),
    row("a", { name: "alpha", market_cap_rank: 1, current_price: 10, market_cap: 100 }),
    row("c", { name: "Gamma", market_cap_rank: null, current_price: null, market_cap: 50 }),
  ];
  const ids = (sorted: MarketRow[]) => sorted.map((r) => r.id);

  it("sorts by rank by default, unranked last", () => {
    expect(ids(sortRows(rows, DEFAULT_SORT))).toEqual(["a", "b", "c"]);
  });

  it("keeps missing values last in both directions", () => {
    expect(ids(sortRows(rows, { key: "price", direction: "descending" }))).toEqual(["a", "b", "c"]);
    expect(ids(sortRows(rows, { key: "price", direction: "ascending" }))).toEqual(["b", "a", "c"]);
    expect(ids(sortRows(rows, { key: "marketCap", direction: "ascending" }))).toEqual(["c", "a", "b"]);
  });

  it("sorts names without regard to case", () => {
    expect(ids(sortRows(rows, { key: "name", direction: "ascending" }))).toEqual(["a", "b", "c"]);
    expect(ids(sortRows(rows, { key: "name", direction: "descending" }))).toEqual(["c", "b", "a"]);
  });

  it("flips the same column and starts numbers high, names and rank low", () => {
    expect(nextSort(DEFAULT_SORT, "rank")).toEqual({ key: "rank", direction: "descending" });
    expect(nextSort(DEFAULT_SORT, "price")).toEqual({ key: "price", direction: "descending" });
    expect(nextSort({ key: "price", direction: "descending" }, "name")).toEqual({ key: "name", direction: "ascending" });
  });
});

describe("applyLivePrices", () => {
  const rows = [row("bitcoin", { current_price: 100, last_updated: "2024-01-01T00:00:00Z" }), row("ethereum", { current_price: 10 })];

  it("replaces the price of the coin in an event", () => {
    const out = applyLivePrices(rows, { bitcoin: { price: 101, timestamp: "2024-01-01T00:05:00Z" } });
    expect(out.map((r) => r.current_price)).toEqual([101, 10]);
    expect(rows[0]?.current_price).toBe(100);
  });

  it("ignores a live price older than the row", () => {
    const out = applyLivePrices(rows, { bitcoin: { price: 99, timestamp: "2023-12-31T23:55:00Z" } });
    expect(out[0]?.current_price).toBe(100);
  });
});
