"""Features read only the past, are defined after a known warm-up, and survive missing volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import cryptopredict
from cryptopredict.forecasting.dataset import build_forecast_data, load_csv
from cryptopredict.forecasting.features import FeatureConfig, compute_features

SMALL = FeatureConfig(
    return_lags=(1, 2, 4),
    momentum_windows=(5,),
    volatility_windows=(3, 6),
    ma_windows=(4,),
    rsi_window=5,
    macd_fast=3,
    macd_slow=6,
    macd_signal=3,
    volume_window=6,
)


def _frame(prices: list[float], volumes: list[float | None], freq: str = "D") -> pd.DataFrame:
    index = pd.date_range("2021-01-01", periods=len(prices), freq=freq, tz="UTC")
    vol = [np.nan if v is None else v for v in volumes]
    return pd.DataFrame({"price": prices, "volume": vol}, index=index)


prices_st = st.floats(min_value=0.01, max_value=1e5, allow_nan=False)
volume_st = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e9, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=12, max_value=40))
def test_changing_anything_after_t_leaves_features_at_t_unchanged(
    data: st.DataObject, n: int
) -> None:
    prices = data.draw(st.lists(prices_st, min_size=n, max_size=n))
    volumes = data.draw(st.lists(volume_st, min_size=n, max_size=n))
    t = data.draw(st.integers(min_value=0, max_value=n - 2))
    new_prices = data.draw(st.lists(prices_st, min_size=n - t - 1, max_size=n - t - 1))
    new_volumes = data.draw(st.lists(volume_st, min_size=n - t - 1, max_size=n - t - 1))
    for config in (SMALL, FeatureConfig()):
        before = compute_features(_frame(prices, volumes), config)
        after = compute_features(
            _frame(prices[: t + 1] + new_prices, volumes[: t + 1] + new_volumes), config
        )
        np.testing.assert_array_equal(
            before.iloc[: t + 1].to_numpy(), after.iloc[: t + 1].to_numpy()
        )


def test_warm_up_rows_are_nan_and_later_rows_complete() -> None:
    rng = np.random.default_rng(0)
    prices = list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 80))))
    out = compute_features(_frame(prices, [None] * 80), SMALL)
    complete = ~out.isna().any(axis=1).to_numpy()
    assert complete[SMALL.warm_up() :].all()
    assert not complete[SMALL.warm_up() - 1]
    default = FeatureConfig()
    out = compute_features(_frame(prices, [1.0] * 80), default)
    assert np.flatnonzero(~out.isna().any(axis=1).to_numpy())[0] == default.warm_up()


def test_hand_checked_values() -> None:
    prices = [100.0 * 1.1**k for k in range(10)]
    volumes: list[float | None] = [1.0, 2.0, 3.0, None, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    out = compute_features(_frame(prices, volumes), SMALL)
    ret = np.log(1.1)
    assert np.isclose(out["ret_lag1"].iloc[1], np.log(110 / 100))
    assert np.isclose(out["ret_lag2"].iloc[3], ret)
    assert np.isclose(out["mom_5"].iloc[6], 5 * ret)
    assert np.isclose(out["vol_3"].iloc[5], 0.0, atol=1e-12)
    assert np.isclose(out["ma_ratio_4"].iloc[6], np.log(prices[6] / np.mean(prices[3:7])))
    assert out["rsi_5"].iloc[6] == 1.0  # only gains
    assert np.isnan(out["macd"].iloc[SMALL.warm_up() - 1])
    assert out["macd"].iloc[SMALL.warm_up()] > 0  # fast EMA above slow EMA in an uptrend
    assert out["volume_missing"].iloc[3] == 1.0 and out["volume_z_6"].iloc[3] == 0.0
    assert out["dow_sin"].iloc[0] == np.sin(2 * np.pi * 4 / 7)  # 2021-01-01 is a Friday
    assert out["is_weekend"].iloc[1] == 1.0


def test_series_without_volume_gets_neutral_volume_features() -> None:
    frame = pd.DataFrame(
        {"price": np.linspace(1, 2, 50)},
        index=pd.date_range("2021-01-01", periods=50, freq="h", tz="UTC"),
    )
    out = compute_features(frame, SMALL)
    assert (out["volume_z_6"] == 0).all() and (out["volume_missing"] == 1).all()
    assert "hour_sin" in out.columns


def test_all_bundled_coins_featurise_without_gaps_after_warm_up() -> None:
    folder = Path(cryptopredict.__file__).parent / "snapshot" / "prices"
    series = [load_csv(p) for p in sorted(folder.glob("*.csv"))]
    assert len(series) == 6
    for s in series:
        data = build_forecast_data(s)
        assert np.isfinite(data.features[FeatureConfig().warm_up() :]).all()
