"""Chart bodies as arrays: the fast path accepts exactly what `MarketChart` accepts, with the
same instants and values, and leaves everything else to pydantic's errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from cryptopredict.marketdata.schemas import (
    MARKET_CHART,
    MARKET_CHART_COLUMNS,
    ChartColumns,
    chart_columns_fast,
)
from tests.conftest import SHARED_DATA

T = 1_625_616_000_000  # 2021-07-07 00:00 UTC in milliseconds


def _body(prices: object = None, caps: object = None, volumes: object = None) -> bytes:
    default = [[T, 1.5], [T + 300_000, 2]]
    return orjson.dumps(
        {
            "prices": default if prices is None else prices,
            "market_caps": default if caps is None else caps,
            "total_volumes": default if volumes is None else volumes,
        }
    )


def _same(columns: ChartColumns, body: bytes) -> None:
    exact = ChartColumns.from_chart(MARKET_CHART.validate_json(body))
    for name in ("prices", "market_caps", "total_volumes"):
        got, want = getattr(columns, name), getattr(exact, name)
        assert got.micros.tolist() == want.micros.tolist()
        assert [None if math.isnan(v) else v for v in got.values.tolist()] == [
            None if math.isnan(v) else v for v in want.values.tolist()
        ]


@pytest.mark.parametrize(
    "name", ["market_chart_bitcoin_7d.json", "market_chart_matic-network_1d.json"]
)
def test_recorded_charts_take_the_fast_path_with_the_models_values(name: str) -> None:
    body = (SHARED_DATA / "coingecko" / name).read_bytes()

    columns = chart_columns_fast(body)

    assert columns is not None and len(columns.prices) > 100
    _same(columns, body)


@pytest.mark.parametrize(
    "body",
    [
        _body(caps=[[T, None], [T + 300_000, 0]]),  # null caps and volumes are unknown
        _body(prices=[], caps=[], volumes=[]),
        _body(prices=[[T, 1e308]]),
    ],
)
def test_valid_bodies_are_read_as_the_model_reads_them(body: bytes) -> None:
    columns = chart_columns_fast(body)

    assert columns is not None
    _same(columns, body)


@pytest.mark.parametrize(
    "body",
    [
        _body(prices=[[T, None]]),  # a price must be known
        _body(prices=[[T, -1.0]]),
        _body(volumes=[[T, -0.5]]),
        _body(prices=[[T, "1.5"]]),  # numbers as strings
        _body(prices=[[str(T), 1.5]]),
        _body(prices=[[T, True]]),
        _body(prices=[[None, 1.5]]),
        _body(prices=[[T, 1.5, 2.0]]),
        _body(prices=[[T]]),
        _body(prices=[[T, [1.5]]]),
        _body(prices=[T, 1.5]),
        _body(prices={"a": 1}),
        b'{"prices": [], "market_caps": []}',
        b"[]",
        b"not json",
    ],
)
def test_malformed_bodies_leave_the_fast_path_and_fail_validation(body: bytes) -> None:
    assert chart_columns_fast(body) is None
    with pytest.raises(ValidationError):
        MARKET_CHART_COLUMNS.validate_json(body)


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"prices": [[T, 1.5]], "market_caps": [], "total_volumes": [], "x": "y"}),
        _body(prices=[[T + 0.5, 1.5]]),  # a fractional millisecond
    ],
)
def test_valid_bodies_outside_the_fast_path_are_read_through_the_model(body: bytes) -> None:
    assert chart_columns_fast(body) is None

    columns = MARKET_CHART_COLUMNS.validate_json(body)

    _same(columns, body)
    assert columns.prices.micros[0] == round(
        (datetime.fromtimestamp(orjson.loads(body)["prices"][0][0] / 1000, tz=UTC)).timestamp()
        * 1_000_000
    )
