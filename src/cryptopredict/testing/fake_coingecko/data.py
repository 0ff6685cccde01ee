"""What the fake serves, loaded once: price series from the CSVs, recorded CoinGecko bodies
(or the bundled catalogue), and the /coins/markets entries patched to the fake's clock."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from cryptopredict.core import timegrid
from cryptopredict.marketdata.coingecko_format import PING_BODY, iso_millis, market_entry
from cryptopredict.snapshot import load_coin_catalogue, snapshot_price_files
from cryptopredict.testing.fake_coingecko.series import DAY_MS, PriceSeries, read_daily_rows

RECORDINGS_ENV = "CRYPTOPREDICT_FAKE_COINGECKO_RECORDINGS"
RATE_LIMIT_BODY = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit. Please visit'
    b" https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate"
    b' limits."}}'
)


def default_recordings_dir() -> Path | None:
    """Where the recorded CoinGecko responses are: $CRYPTOPREDICT_FAKE_COINGECKO_RECORDINGS,
    else `shared/data/coingecko` beside a source checkout, else None (snapshot only)."""
    configured = os.environ.get(RECORDINGS_ENV)
    if configured:
        return Path(configured)
    beside_checkout = Path(__file__).resolve().parents[5] / "shared" / "data" / "coingecko"
    return beside_checkout if beside_checkout.is_dir() else None


@dataclass(frozen=True)
class FakeData:
    """Everything the fake serves, loaded once: price series and recorded bodies."""

    series: dict[str, PriceSeries]
    markets: list[dict[str, Any]]
    coins_list_body: bytes = field(repr=False)
    coins_list_platform_body: bytes = field(repr=False)
    trending: bytes = field(repr=False)
    ping: bytes = field(repr=False)
    rate_limit_body: bytes = field(repr=False)

    @property
    def default_now_ms(self) -> int:
        """The day after the last CSV day, 00:00 UTC: the last daily close is "now"."""
        return max(s.last_ms for s in self.series.values())

    def markets_at(self, now: int) -> list[dict[str, Any]]:
        """Markets entries at `now` ms, the coins with a CSV patched from it."""
        return [
            _patched_entry(e, self.series[e["id"]], now) if e["id"] in self.series else e
            for e in self.markets
        ]


def _read_json(directory: Path | None, name: str) -> Any:
    if directory is None or not (directory / name).is_file():
        return None
    return orjson.loads((directory / name).read_bytes())


def _read_bytes(directory: Path | None, name: str) -> bytes | None:
    if directory is None or not (directory / name).is_file():
        return None
    return (directory / name).read_bytes()


def _price_files(data_dir: Path | None) -> list[Path]:
    if data_dir is None:
        return snapshot_price_files()
    files = sorted(data_dir.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no price CSVs (<coingecko-id>.csv) in {data_dir}")
    return files


def _catalogue_markets() -> list[dict[str, Any]]:
    """Minimal markets entries from the bundled catalogue, for when no recording exists."""
    entries = []
    for coin in load_coin_catalogue().values():
        entries.append(
            {
                "id": coin.coingecko_id,
                "symbol": coin.symbol,
                "name": coin.name,
                "image": coin.image_url,
                "market_cap_rank": coin.market_cap_rank,
            }
        )
    return entries


def _market_entry(base: dict[str, Any] | None, coin_id: str) -> dict[str, Any]:
    """A /coins/markets entry with every key CoinGecko sends, starting from `base`."""
    entry = market_entry(
        coin_id=coin_id, symbol=coin_id[:4], name=coin_id.replace("-", " ").title()
    )
    entry.update(base or {})
    return entry


@lru_cache(maxsize=8)
def load_fake_data(data_dir: Path | None, recordings_dir: Path | None) -> FakeData:
    """Read the CSVs and recordings once per (data, recordings) pair."""
    series: dict[str, PriceSeries] = {}
    for path in _price_files(data_dir):
        series[path.stem] = PriceSeries.from_rows(path.stem, read_daily_rows(path))

    listed = _read_json(recordings_dir, "coins_list_include_platform.json")
    if listed is None:
        plain = _read_json(recordings_dir, "coins_list.json")
        listed = [{**e, "platforms": {}} for e in plain] if plain is not None else []
    known = {entry["id"] for entry in listed}
    catalogue = load_coin_catalogue()
    for coin_id in series:
        if coin_id not in known:
            coin = catalogue.get(coin_id)
            listed.append(
                {
                    "id": coin_id,
                    "symbol": coin.symbol if coin else coin_id[:4],
                    "name": coin.name if coin else coin_id.replace("-", " ").title(),
                    "platforms": {},
                }
            )

    recorded = _read_json(recordings_dir, "coins_markets.json") or _catalogue_markets()
    by_id = {entry["id"]: entry for entry in recorded}
    markets = [_market_entry(entry, entry["id"]) for entry in recorded]
    for coin_id in series:
        if coin_id not in by_id:
            markets.append(_market_entry(None, coin_id))

    trending = _read_bytes(recordings_dir, "search_trending.json")
    return FakeData(
        series=series,
        markets=markets,
        coins_list_body=orjson.dumps([{k: e[k] for k in ("id", "symbol", "name")} for e in listed]),
        coins_list_platform_body=orjson.dumps(listed),
        trending=trending or b'{"coins":[],"nfts":[],"categories":[]}',
        ping=_read_bytes(recordings_dir, "ping.json") or orjson.dumps(PING_BODY),
        rate_limit_body=_read_bytes(recordings_dir, "error_429_rate_limit.json") or RATE_LIMIT_BODY,
    )


def _patched_entry(entry: dict[str, Any], series: PriceSeries, now: int) -> dict[str, Any]:
    """The coin's markets entry with price figures taken from its CSV at the fake's clock."""
    at = min(now, series.last_ms)
    price = series.price_at(at)
    before = series.price_at(at - DAY_MS)
    day = timegrid.from_micros(at * 1000).date() - timegrid.ONE_DAY
    row = next((r for r in reversed(series.rows) if r.day <= day), series.rows[0])
    change = price - before
    return {
        **entry,
        "current_price": price,
        "high_24h": max(row.high, price),
        "low_24h": min(row.low, price),
        "total_volume": series.volume_at(at),
        "price_change_24h": change,
        "price_change_percentage_24h": 100 * change / before if before else None,
        "last_updated": iso_millis(timegrid.from_micros(at * 1000)),
    }
