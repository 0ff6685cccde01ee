// Value a portfolio's holdings at the latest stored price of each coin and compare with
// what they cost. The API has no valuation endpoint: holdings come from
// /portfolios/{id}/holdings (decimal strings, average-cost method) and prices from
// /prices/latest (floats, read by their shortest representation). All sums are exact.
import type { Schemas } from "./api/client";
import { add, multiply, parseDecimal, ratio, subtract, toDecimalString, type Decimal } from "./decimal";

export type Holding = Schemas["HoldingRead"];
export type LatestPrice = Schemas["LatestPrice"];

export interface ValuedHolding {
  holding: Holding;
  /** The latest stored price, and when it was recorded (null: no price stored). */
  price: number | null;
  priceAt: string | null;
  /** quantity × price. */
  value: string | null;
  /** value − cost basis, when both are known. */
  pnl: string | null;
  /** pnl as a percentage of the cost basis. */
  pnlPercent: number | null;
}

export interface Valuation {
  rows: ValuedHolding[];
  /** Sum of the values that are known. */
  value: string | null;
  /** Sum of the cost bases that are known. */
  costBasis: string | null;
  /** P&L over the holdings whose value and cost are both known, and its percentage. */
  pnl: string | null;
  pnlPercent: number | null;
  /** How many holdings have a price / a known cost / both. */
  priced: number;
  costed: number;
  compared: number;
  /** The oldest price used: the valuation is no newer than that. */
  oldestPriceAt: string | null;
}

function sum(values: Decimal[]): Decimal | null {
  return values.length === 0 ? null : values.reduce(add);
}

function text(value: Decimal | null): string | null {
  return value === null ? null : toDecimalString(value);
}

/** Each holding with its value and unrealised P&L, and the portfolio's totals. */
export function valueHoldings(holdings: Holding[], prices: LatestPrice[]): Valuation {
  const byCoin = new Map(prices.map((price) => [price.coin, price]));
  const values: Decimal[] = [];
  const costs: Decimal[] = [];
  const comparedValues: Decimal[] = [];
  const comparedCosts: Decimal[] = [];
  let oldestPriceAt: string | null = null;

  const rows = holdings.map((holding): ValuedHolding => {
    const latest = byCoin.get(holding.coin.coingecko_id);
    const quantity = parseDecimal(holding.quantity);
    const price = latest ? parseDecimal(latest.price) : null;
    const cost = parseDecimal(holding.cost_basis);
    const value = quantity && price ? multiply(quantity, price) : null;
    if (value) values.push(value);
    if (cost) costs.push(cost);
    if (latest && (oldestPriceAt === null || latest.timestamp < oldestPriceAt)) {
      oldestPriceAt = latest.timestamp;
    }
    let pnl: Decimal | null = null;
    if (value && cost) {
      pnl = subtract(value, cost);
      comparedValues.push(value);
      comparedCosts.push(cost);
    }
    const percent = pnl && cost ? ratio(pnl, cost) : null;
    return {
      holding,
      price: latest?.price ?? null,
      priceAt: latest?.timestamp ?? null,
      value: text(value),
      pnl: text(pnl),
      pnlPercent: percent === null ? null : percent * 100,
    };
  });

  const comparedValue = sum(comparedValues);
  const comparedCost = sum(comparedCosts);
  const pnl = comparedValue && comparedCost ? subtract(comparedValue, comparedCost) : null;
  const percent = pnl && comparedCost ? ratio(pnl, comparedCost) : null;
  return {
    rows,
    value: text(sum(values)),
    costBasis: text(sum(costs)),
    pnl: text(pnl),
    pnlPercent: percent === null ? null : percent * 100,
    priced: values.length,
    costed: costs.length,
    compared: comparedValues.length,
    oldestPriceAt,
  };
}

/** The coins to ask /prices/latest about (its limit is 100 per call). */
export function priceQuery(holdings: Holding[]): string[] {
  const ids = [...new Set(holdings.map((holding) => holding.coin.coingecko_id))];
  const chunks: string[] = [];
  for (let start = 0; start < ids.length; start += 100) {
    chunks.push(ids.slice(start, start + 100).join(","));
  }
  return chunks;
}
