"""The quality report states size, holes, duplicates, outliers and staleness of a series."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from cryptopredict.forecasting.dataset import from_frame
from cryptopredict.forecasting.quality import quality_report, robust_z_scores


def _series() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    log_price = np.cumsum(rng.normal(0, 0.01, 120))
    log_price[60:] += 0.5  # one +50 % log jump at day 60
    frame = pd.DataFrame({"timestamp": days, "price": np.exp(log_price), "volume": 1.0})
    frame.loc[5:9, "volume"] = np.nan
    frame = frame.drop(index=[30, 31])  # a short gap (2 days)
    frame = pd.concat([frame, frame.iloc[[10]]])  # a duplicate
    return frame


def test_report_fields() -> None:
    series = from_frame(_series(), "1d", max_gap=3, name="demo")
    now = dt.datetime(2024, 4, 30, 12, tzinfo=dt.UTC)
    report = quality_report(series, now=now)
    assert report.name == "demo" and report.interval == "1d"
    assert report.length == 120 and report.raw_rows == 119
    assert report.expected_rows == 120
    assert report.missing_ratio == 2 / 120
    assert report.duplicate_count == 1 and report.interpolated_count == 2
    assert [g.missing for g in report.gaps] == [2]
    assert report.volume_missing_ratio == (5 + 2) / 120
    assert [o.at for o in report.outliers] == [pd.Timestamp("2024-03-01", tz="UTC")]
    assert report.outliers[0].robust_z > 6
    last = pd.Timestamp("2024-04-29", tz="UTC")
    assert report.last_at == last
    assert report.staleness_steps == (pd.Timestamp(now) - last) / pd.Timedelta(days=1)
    assert report.stale is False
    assert quality_report(series, now=pd.Timestamp("2024-06-01")).stale is True  # naive = UTC
    assert quality_report(series).staleness_steps is None


def test_report_is_json_ready() -> None:
    report = quality_report(from_frame(_series(), name="demo"), now=pd.Timestamp("2024-05-01"))
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["gaps"][0]["missing"] == 2 and payload["gaps"][0]["filled"] is True
    assert payload["outliers"][0]["at"].startswith("2024-03-01")
    assert payload["now"] == "2024-05-01T00:00:00+00:00"


def test_cut_series_reports_dropped_rows_and_missing_share() -> None:
    days = ["2024-01-01", "2024-01-02", "2024-01-20", "2024-01-21"]
    series = from_frame(pd.DataFrame({"date": days, "close": [1.0, 1.0, 2.0, 2.0]}))
    report = quality_report(series)
    assert report.dropped_rows == 2 and report.length == 2
    assert report.expected_rows == 21 and report.missing_ratio == 17 / 21


def test_robust_z_ignores_the_outlier_itself() -> None:
    z = robust_z_scores([0.0, 1.0, -1.0, 0.5, -0.5, 100.0, np.nan])
    assert np.isnan(z[-1]) and z[5] > 50 and abs(z[1]) < 2
    assert robust_z_scores([1.0, 1.0, 1.0]).tolist() == [0.0, 0.0, 0.0]
