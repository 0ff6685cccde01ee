// The Markets page's data: the CoinGecko-compatible mirror, the same call a CoinGecko
// client would make, checked row by row (its 200 answer is untyped in the OpenAPI document).
import { parseMarketRows, type MarketRow } from "../markets";
import { api, ApiError } from "./client";

/** Every tracked coin with its 7-day sparkline and 24 h / 7 d changes. */
export async function fetchMarkets(signal?: AbortSignal): Promise<MarketRow[]> {
  const { data, error, response } = await api.GET("/api/v3/coins/markets", {
    params: {
      query: {
        vs_currency: "usd",
        per_page: "250",
        page: "1",
        sparkline: "true",
        price_change_percentage: "24h,7d",
      },
    },
    signal,
  });
  if (!response.ok) {
    // The mirror answers errors in CoinGecko's shape, {"error": "invalid vs_currency"}.
    const message = (error as { error?: unknown } | undefined)?.error;
    throw typeof message === "string"
      ? new ApiError(response.status, "error", message)
      : ApiError.from(response.status, error);
  }
  return parseMarketRows(data);
}
