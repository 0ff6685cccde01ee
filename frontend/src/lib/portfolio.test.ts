import { describe, expect, it } from "vitest";
import { priceQuery, valueHoldings, type Holding, type LatestPrice } from "./portfolio";

function holding(coin: string, quantity: string, costBasis: string | null): Holding {
  return {
    coin: { id: 1, coingecko_id: coin, symbol: coin.slice(0, 3), name: coin },
    quantity,
    cost_basis: costBasis,
    average_cost: costBasis === null ? null : "0",
    known_cost_basis: costBasis ?? "0",
    missing_basis_quantity: costBasis === null ? quantity : "0",
    price: null,
    price_at: null,
    price_age_seconds: null,
    value: null,
    unrealized_pnl: null,
    unrealized_pnl_percent: null,
    realized_pnl: "0",
    fees: "0",
    allocation_percent: null,
    transactions: 1,
  };
}

function price(coin: string, value: number, timestamp: string): LatestPrice {
  return {
    coin,
    symbol: coin.slice(0, 3),
    name: coin,
    interval: "1d",
    timestamp,
    price: value,
    volume: null,
    market_cap: null,
    price_change_24h: null,
    price_change_percentage_24h: null,
    reference_at: null,
    reference_price: null,
  };
}

describe("valueHoldings", () => {
  // As the server answered: 0.5 BTC bought at 42000.123456789 with a fee of 1.5.
  const btc = holding("bitcoin", "0.5", "21001.5617283945");
  const btcPrice = price("bitcoin", 34235.19345116, "2021-07-06T00:00:00Z");

  it("values a holding at the latest price and compares with its cost, exactly", () => {
    const { rows, value, costBasis, pnl, pnlPercent, priced, costed, compared } = valueHoldings(
      [btc],
      [btcPrice],
    );
    expect(rows[0]?.value).toBe("17117.59672558");
    expect(rows[0]?.pnl).toBe("-3883.9650028145");
    expect(rows[0]?.pnlPercent).toBeCloseTo(-18.4937, 3);
    expect(rows[0]?.price).toBe(34235.19345116);
    expect(rows[0]?.priceAt).toBe("2021-07-06T00:00:00Z");
    expect([value, costBasis, pnl]).toEqual(["17117.59672558", "21001.5617283945", "-3883.9650028145"]);
    expect(pnlPercent).toBeCloseTo(-18.4937, 3);
    expect([priced, costed, compared]).toEqual([1, 1, 1]);
  });

  it("leaves value and P&L empty without a price, and P&L without a cost", () => {
    const transferred = holding("ethereum", "2", null);
    const unpriced = holding("dogecoin", "1000", "80");
    const result = valueHoldings(
      [btc, transferred, unpriced],
      [btcPrice, price("ethereum", 2324.67944917, "2021-07-05T00:00:00Z")],
    );
    const [, eth, doge] = result.rows;
    expect(eth?.value).toBe("4649.35889834");
    expect(eth?.pnl).toBeNull();
    expect(eth?.pnlPercent).toBeNull();
    expect(doge?.value).toBeNull();
    expect(doge?.pnl).toBeNull();
    // The total value counts what is priced, the cost what is known, the P&L only both.
    expect(result.value).toBe("21766.95562392");
    expect(result.costBasis).toBe("21081.5617283945");
    expect(result.pnl).toBe("-3883.9650028145");
    expect([result.priced, result.costed, result.compared]).toEqual([2, 2, 1]);
    expect(result.oldestPriceAt).toBe("2021-07-05T00:00:00Z");
  });

  it("has no totals for an empty portfolio", () => {
    const result = valueHoldings([], []);
    expect(result.rows).toEqual([]);
    expect([result.value, result.costBasis, result.pnl, result.pnlPercent]).toEqual([
      null,
      null,
      null,
      null,
    ]);
  });

  it("gives no percentage on a zero cost basis", () => {
    const free = holding("bitcoin", "1", "0");
    const result = valueHoldings([free], [btcPrice]);
    expect(result.rows[0]?.pnl).toBe("34235.19345116");
    expect(result.rows[0]?.pnlPercent).toBeNull();
  });
});

describe("priceQuery", () => {
  it("asks for each coin once, 100 at a time", () => {
    const many = Array.from({ length: 150 }, (_, index) => holding(`coin${index}`, "1", null));
    const chunks = priceQuery([...many, holding("coin0", "2", null)]);
    expect(chunks).toHaveLength(2);
    expect(chunks[0]?.split(",")).toHaveLength(100);
    expect(chunks[1]?.split(",")).toHaveLength(50);
    expect(priceQuery([])).toEqual([]);
  });
});
