"""Cleaning puts a series on its UTC grid, counts what it drops and handles gaps explicitly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cryptopredict.forecasting.dataset import (
    build_forecast_data,
    from_frame,
    interval_step,
    load_csv,
)
from cryptopredict.forecasting.features import FeatureConfig
from tests.conftest import SNAPSHOT_PRICES

PRICES = SNAPSHOT_PRICES


def _daily(days: list[str], prices: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"date": days, "close": prices, "volume": 1.0})


def test_regular_csv_is_kept_as_is() -> None:
    series = load_csv(PRICES / "cardano.csv")
    raw = pd.read_csv(PRICES / "cardano.csv")
    assert series.name == "cardano" and len(series) == len(raw) == series.raw_rows
    assert series.duplicates == series.invalid == series.interpolated == 0
    assert series.gaps == ()
    index = pd.DatetimeIndex(series.frame.index)
    assert str(index.tz) == "UTC" and index[0] == pd.Timestamp("2017-10-02", tz="UTC")
    assert (index[1:] - index[:-1] == pd.Timedelta(days=1)).all()
    np.testing.assert_array_equal(series.frame["price"], raw["close"])


def test_timestamps_are_made_utc_and_floored_onto_the_grid() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": [
                "2024-01-01T00:00:00Z",
                "2024-01-01T20:30:00-05:00",  # 2024-01-02 01:30 UTC
                "2024-01-03T00:00:00",  # naive: UTC
            ],
            "price": [1.0, 2.0, 3.0],
        }
    )
    series = from_frame(frame, "1d")
    assert list(series.frame.index) == list(
        pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    )
    assert series.off_grid == 1
    ms = pd.DataFrame({"timestamp": [1704067200000, 1704070800000], "price": [5.0, 6.0]})
    hourly = from_frame(ms, "1h")
    assert hourly.frame.index[1] == pd.Timestamp("2024-01-01T01:00Z")


def test_duplicates_are_dropped_keeping_the_latest_and_counted() -> None:
    frame = pd.DataFrame(
        {
            "timestamp": [
                "2024-01-01T00:00Z",
                "2024-01-01T00:00Z",
                "2024-01-01T09:00Z",
                "2024-01-02T00:00Z",
            ],
            "price": [1.0, 1.5, 1.7, 2.0],
        }
    )
    series = from_frame(frame, "1d")
    assert series.duplicates == 2 and len(series) == 2
    assert series.frame["price"].iloc[0] == 1.7


def test_invalid_prices_are_dropped_and_counted() -> None:
    frame = _daily(["2024-01-01", "2024-01-02", "2024-01-03"], [1.0, 0.0, 2.0])
    series = from_frame(frame)
    assert series.invalid == 1
    assert series.interpolated == 1  # the dropped day becomes a short, filled gap


def test_short_gap_interpolated_in_log_price_and_flagged() -> None:
    days = ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-06"]
    series = from_frame(_daily(days, [1.0, 2.0, 16.0, 16.0]), max_gap=2)
    frame = series.frame
    assert len(frame) == 6
    np.testing.assert_allclose(frame["price"].iloc[2:4], [4.0, 8.0])  # geometric path
    assert frame["interpolated"].tolist() == [False, False, True, True, False, False]
    assert frame["volume"].iloc[2:4].isna().all()
    (gap,) = series.gaps
    assert gap.missing == 2 and gap.filled
    assert gap.after_at == pd.Timestamp("2024-01-02", tz="UTC")
    assert gap.before_at == pd.Timestamp("2024-01-05", tz="UTC")


def test_long_gap_keeps_the_most_recent_segment_never_forward_fills() -> None:
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-10", "2024-01-11", "2024-01-13"]
    series = from_frame(_daily(days, [1.0, 1.1, 1.2, 5.0, 5.5, 6.0]), max_gap=3)
    assert [g.filled for g in series.gaps] == [False, True]
    assert series.dropped_rows == 3
    assert series.frame.index[0] == pd.Timestamp("2024-01-10", tz="UTC")
    assert len(series) == 4 and series.interpolated == 1
    assert not np.isin(series.frame["price"], [1.0, 1.1, 1.2]).any()
    assert series.raw_start_at == pd.Timestamp("2024-01-01", tz="UTC")


def test_max_gap_zero_cuts_at_any_gap() -> None:
    series = from_frame(
        _daily(["2024-01-01", "2024-01-03", "2024-01-04"], [1.0, 2.0, 3.0]), max_gap=0
    )
    assert len(series) == 2 and series.dropped_rows == 1


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="price"):
        from_frame(pd.DataFrame({"date": ["2024-01-01"], "open": [1.0]}))
    with pytest.raises(ValueError, match="time"):
        from_frame(pd.DataFrame({"price": [1.0]}))
    with pytest.raises(ValueError, match="interval"):
        interval_step("7x")


def test_empty_input_gives_empty_series() -> None:
    series = from_frame(_daily(["2024-01-01"], [-1.0]))
    assert len(series) == 0 and series.invalid == 1
    with pytest.raises(ValueError, match="empty"):
        build_forecast_data(series)


def test_forecast_data_has_features_and_targets_aligned() -> None:
    series = load_csv(PRICES / "bitcoin.csv")
    data = build_forecast_data(series, horizons=(7, 1))
    assert data.horizons == (1, 7) and data.name == "bitcoin"
    assert len(data) == len(series)
    price = series.frame["price"].to_numpy()
    np.testing.assert_allclose(np.exp(data.log_price), price)
    np.testing.assert_allclose(data.targets[10, 1], np.log(price[17] / price[10]))
    assert np.isnan(data.targets[-7:, 1]).all() and np.isfinite(data.targets[:-7, 1]).all()
    warm = FeatureConfig().warm_up()
    assert np.isfinite(data.features[warm:]).all()  # 2013 volume is missing: still finite
    assert data.features[:242, data.feature_names.index("volume_missing")].all()


def test_gap_rows_of_forecast_data_never_read_the_price_after_the_gap() -> None:
    # A filled gap's rows are forecast origins and training rows like any other: their price
    # and features must be what was known then, not a line drawn to the next real point.
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=80, freq="D")
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, days.size)))
    keep = np.ones(days.size, dtype=bool)
    keep[50:53] = False  # rows 50..52 missing, filled (max_gap 3)
    later = prices.copy()
    later[53:] *= 1.5  # only prices after the gap differ

    def built(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frame = pd.DataFrame({"date": days[keep].strftime("%Y-%m-%d"), "close": values[keep]})
        series = from_frame(frame, max_gap=3)
        assert series.interpolated == 3
        data = build_forecast_data(series, horizons=(1,))
        return data.log_price[:53], data.features[:53]

    lp_a, feats_a = built(prices)
    lp_b, feats_b = built(later)
    np.testing.assert_array_equal(lp_a, lp_b)
    np.testing.assert_array_equal(feats_a, feats_b)
