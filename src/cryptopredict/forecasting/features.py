"""Model features from the past only: row ``t`` reads prices and volumes at or before ``t``.

Every feature is a causal rolling/expanding/EWM transform or a lag, so changing a value after
``t`` never changes a feature at ``t`` (a property test checks this). Features are scale-free
(log returns, ratios, normalised oscillators) so one model can serve coins of any price level.
Warm-up rows, where a window is not yet full, are NaN. Missing volume never makes a row NaN:
its z-score is 0 there and ``volume_missing`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FeatureConfig:
    """Which features to compute and their windows (in steps of the series' interval).

    Attributes:
        return_lags: lags ``k`` of one-step log returns: ``ret_lag{k}`` is the return that
            ended ``k - 1`` steps before ``t`` (``ret_lag1`` is the latest one).
        momentum_windows: ``mom_{w}`` is the log return over the last ``w`` steps.
        volatility_windows: ``vol_{w}`` is the rolling std of one-step log returns.
        ma_windows: ``ma_ratio_{w}`` is ``log(price / simple moving average over w)``.
        rsi_window: Wilder's RSI period (``rsi_{n}``, scaled to 0..1); 0 disables it.
        macd_fast: MACD fast EMA span; MACD features are divided by price.
        macd_slow: MACD slow EMA span.
        macd_signal: MACD signal EMA span; ``macd_fast = 0`` disables MACD.
        volume_window: window of the log-volume z-score; 0 disables volume features.
        calendar: add calendar features (day of week, month; hour for intraday series).
    """

    return_lags: tuple[int, ...] = (1, 2, 3, 5, 7)
    momentum_windows: tuple[int, ...] = (7, 30)
    volatility_windows: tuple[int, ...] = (7, 30)
    ma_windows: tuple[int, ...] = (7, 30)
    rsi_window: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    volume_window: int = 30
    calendar: bool = True

    def warm_up(self) -> int:
        """Rows at the start that lack a complete value for at least one feature."""
        needs = [0]
        needs += list(self.return_lags)
        needs += list(self.momentum_windows)
        needs += list(self.volatility_windows)
        needs += [w - 1 for w in self.ma_windows]
        if self.rsi_window:
            needs.append(self.rsi_window)
        if self.macd_fast:
            needs.append(self.macd_slow + self.macd_signal - 2)
        return max(needs)


def _ewm_mean(values: pd.Series, span: int) -> pd.Series:
    """Recursive EMA that starts at the first value, defined once ``span`` points exist."""
    return values.ewm(span=span, adjust=False, min_periods=span).mean()


def compute_features(
    frame: pd.DataFrame, config: FeatureConfig | None = None, *, intraday: bool | None = None
) -> pd.DataFrame:
    """Causal features for every row of a regular series.

    Args:
        frame: indexed by UTC timestamps (ascending, regular) with a ``price`` column and an
            optional ``volume`` column (NaN = unknown).
        config: feature choices; defaults to ``FeatureConfig()``.
        intraday: add hour-of-day features; inferred from the index spacing when None.

    Returns:
        One row per input row, one float column per feature, NaN during warm-up.
    """
    cfg = config or FeatureConfig()
    if "price" not in frame.columns:
        raise ValueError("frame needs a 'price' column")
    price = frame["price"].astype("float64")
    if (price <= 0).any():
        raise ValueError("prices must be positive")
    lp = pd.Series(np.log(price.to_numpy()), index=frame.index)
    ret = lp.diff()
    cols: dict[str, pd.Series] = {}

    for k in cfg.return_lags:
        cols[f"ret_lag{k}"] = ret.shift(k - 1)
    for w in cfg.momentum_windows:
        cols[f"mom_{w}"] = lp - lp.shift(w)
    for w in cfg.volatility_windows:
        cols[f"vol_{w}"] = ret.rolling(w, min_periods=w).std()
    for w in cfg.ma_windows:
        cols[f"ma_ratio_{w}"] = lp - np.log(price.rolling(w, min_periods=w).mean())

    if cfg.rsi_window:
        n = cfg.rsi_window
        gain = ret.clip(lower=0.0)
        loss = (-ret).clip(lower=0.0)
        avg_gain = gain.ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
        avg_loss = loss.ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()
        total = avg_gain + avg_loss
        rsi = (avg_gain / total.where(total > 0)).where(total > 0, 0.5)
        cols[f"rsi_{n}"] = rsi.where(avg_gain.notna() & avg_loss.notna())

    if cfg.macd_fast:
        macd = (_ewm_mean(price, cfg.macd_fast) - _ewm_mean(price, cfg.macd_slow)) / price
        signal = _ewm_mean(macd, cfg.macd_signal)
        cols["macd"] = macd.where(signal.notna())
        cols["macd_signal"] = signal
        cols["macd_hist"] = macd - signal

    if cfg.volume_window:
        w = cfg.volume_window
        if "volume" in frame.columns:
            volume = frame["volume"].astype("float64")
            log_vol = pd.Series(np.log1p(volume.where(volume >= 0).to_numpy()), index=frame.index)
        else:
            log_vol = pd.Series(np.nan, index=frame.index)
        mean = log_vol.rolling(w, min_periods=max(2, w // 2)).mean()
        std = log_vol.rolling(w, min_periods=max(2, w // 2)).std()
        z = (log_vol - mean) / std.where(std > 0)
        missing = z.isna()
        cols[f"volume_z_{w}"] = z.fillna(0.0)
        cols["volume_missing"] = missing.astype("float64")

    if cfg.calendar:
        idx = pd.DatetimeIndex(frame.index)
        dow = idx.day_of_week.to_numpy(dtype=np.float64)
        month = idx.month.to_numpy(dtype=np.float64) - 1.0
        cols["dow_sin"] = pd.Series(np.sin(2 * np.pi * dow / 7), index=frame.index)
        cols["dow_cos"] = pd.Series(np.cos(2 * np.pi * dow / 7), index=frame.index)
        cols["is_weekend"] = pd.Series((dow >= 5).astype(np.float64), index=frame.index)
        cols["month_sin"] = pd.Series(np.sin(2 * np.pi * month / 12), index=frame.index)
        cols["month_cos"] = pd.Series(np.cos(2 * np.pi * month / 12), index=frame.index)
        if intraday is None:
            intraday = len(idx) > 1 and bool((idx[1] - idx[0]) < pd.Timedelta(days=1))
        if intraday:
            hour = idx.hour.to_numpy(dtype=np.float64) + idx.minute.to_numpy() / 60.0
            cols["hour_sin"] = pd.Series(np.sin(2 * np.pi * hour / 24), index=frame.index)
            cols["hour_cos"] = pd.Series(np.cos(2 * np.pi * hour / 24), index=frame.index)

    out = pd.DataFrame(cols, index=frame.index, dtype="float64")
    return out
