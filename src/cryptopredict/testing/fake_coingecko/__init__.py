"""A fake CoinGecko v3 over real HTTP, so the client, sync and benchmarks never need the internet.

It answers in CoinGecko's exact shapes, from real data:

* `/ping`, `/coins/list`, `/coins/markets`, `/search/trending` come from responses recorded
  from the real API (`shared/data/coingecko/`, see SOURCES.md there); the coins that have a
  price CSV are patched so their current price is the CSV's close at the fake's clock.
  Without recordings the catalogue bundled in `cryptopredict.snapshot` stands in.
* `/simple/price`, `/coins/{id}/market_chart`, `/coins/{id}/market_chart/range` and
  `/coins/{id}/ohlc` are built from the daily price CSVs (the bundled snapshot by default).
  Following CoinGecko, the daily point stamped D 00:00 UTC is the close of day D-1. Finer
  points (5-minute, hourly; CoinGecko's automatic granularity) are linear interpolations
  between those daily closes: deterministic, shape-faithful fake data made from real
  closes, not real intraday prices. Unknown volume or market cap is served as 0, as
  CoinGecko does for early history. 4-day candles are real daily OHLC aggregated; 30-minute
  and 4-hour candles come from the interpolated path.

The fake's "now" is a fixed clock (default: the day after the last CSV day, 00:00 UTC) so
that `days=365` lands inside the data. Demo-key rules are enforced: with `require_key` a
request without `x-cg-demo-api-key`/`x-cg-pro-api-key` gets CoinGecko's 401 (10002), and a
Demo key asking for more than 365 days of history gets CoinGecko's 401 (10012).

Faults are switched on through `FakeCoinGecko.faults` (thread-safe): 429 with Retry-After
(JSON or Cloudflare-style HTML), 5xx bursts, responses slower than a client's timeout,
truncated or garbage or wrong-shaped JSON, and 401. Every request is logged (method, path,
query, headers without API keys, arrival time) so tests can count calls.

Modules: `series` (a coin's daily CSV rows and the chart and candle arithmetic on them),
`data` (what is served, loaded once), `controls` (faults, request log, clock, key rules),
`routes` (the endpoints) and `server` (the app, run in a thread or in the foreground).
"""
