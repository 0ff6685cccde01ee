"""The interval backtest inside `backtest_coin` and `cryptopredict backtest`: a choice per
horizon, and every origin's served forecast in a CSV from which the report's figures follow."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cryptopredict.cli.app import app
from cryptopredict.forecasting import metrics, training
from cryptopredict.forecasting.interval_backtest import FORECAST_COLUMNS, backtest_intervals
from cryptopredict.forecasting.interval_methods import BASELINE
from tests.forecasting.test_cli_forecasting import csv_dir, env  # noqa: F401 - fixtures
from tests.forecasting.test_interval_methods import TRUE, simulate_garch
from tests.forecasting.test_training import START, price_frame

QUANTILES = ["q05", "q10", "q25", "q50", "q75", "q90", "q95"]


@pytest.fixture(scope="module")
def clustered() -> training.CoinBacktest:
    """A coin whose volatility clusters (GARCH-t), backtested with naive and drift."""
    log_price, _ = simulate_garch(1600, TRUE, seed=17)
    frame = price_frame(list(np.exp(log_price)))
    return training.backtest_coin(frame, coin="clustered", horizons=(1, 7), models=["drift"])


def test_each_horizon_chooses_an_interval_method(clustered: training.CoinBacktest) -> None:
    intervals = clustered.intervals
    assert intervals is not None and set(intervals.selections) == {1, 7}
    for selection in intervals.selections.values():
        kinds = [c.method for c in selection.candidates]
        assert kinds[0] == BASELINE and len(kinds) > 3
        assert selection.chosen in kinds and selection.n_origins > 300
    # Volatility that clusters is what GARCH forecasts: a day ahead it beats the baseline.
    assert intervals.selections[1].chosen != BASELINE


def test_served_rows_are_ordered_quantiles_from_the_chosen_method(
    clustered: training.CoinBacktest,
) -> None:
    assert clustered.intervals is not None
    frame = clustered.intervals.forecasts_frame()
    assert list(frame.columns) == list(FORECAST_COLUMNS)
    assert set(frame["horizon"]) == {1, 7}
    fan = frame[QUANTILES].to_numpy()
    assert (np.diff(fan, axis=1) >= 0).all()
    assert (frame["lower_95"] <= frame["lower_80"]).all()
    assert (frame["upper_80"] <= frame["upper_95"]).all()
    assert frame["p_up"].between(0, 1).all()
    for horizon, selection in clustered.intervals.selections.items():
        rows = frame[frame["horizon"] == horizon]
        served = set(rows["interval_method"])
        assert served <= {selection.chosen, BASELINE}
        # Only early origins, before the chosen method has history enough, get the baseline.
        fallback = (rows["interval_method"] != selection.chosen).to_numpy()
        first_served = int(np.argmin(fallback))
        assert not fallback[first_served:].any()
        assert (rows.loc[rows["scored"], "interval_method"] == selection.chosen).all()


def test_the_report_figures_follow_from_the_served_rows(clustered: training.CoinBacktest) -> None:
    assert clustered.intervals is not None
    frame = clustered.intervals.forecasts_frame()
    for horizon, selection in clustered.intervals.selections.items():
        rows = frame[(frame["horizon"] == horizon) & frame["scored"]]
        scores = selection.scores_of(selection.chosen)
        actual = np.log(rows["actual"].to_numpy())
        lower, upper = np.log(rows["lower_80"].to_numpy()), np.log(rows["upper_80"].to_numpy())
        assert len(rows) == scores.n
        assert metrics.interval_coverage(actual, lower, upper) == pytest.approx(
            scores.coverage["80"]
        )
        assert metrics.winkler_score(actual, lower, upper, 0.8) == pytest.approx(
            scores.winkler["80"]
        )


def test_naive_horizons_score_intervals_on_every_origin_with_a_year_of_history(
    clustered: training.CoinBacktest,
) -> None:
    assert clustered.intervals is not None
    point_origins = clustered.results["naive"].plan.origins
    assert point_origins[0] > 365  # the point backtest starts later than the intervals
    frame = clustered.intervals.forecasts_frame()
    for horizon, selection in clustered.selections.items():
        assert selection.chosen == "naive"
        rows = frame[frame["horizon"] == horizon]
        assert len(rows) == len(clustered.intervals.served[horizon])
        first = pd.Timestamp(rows["origin_at"].min())
        assert first == pd.Timestamp(START) + pd.Timedelta(days=365)
        assert (rows["point"] == rows["origin_price"]).all()  # naive: no change
        # Selection scores more origins than the point backtest has.
        assert clustered.intervals.selections[horizon].n_origins > point_origins.size


def test_a_fitted_point_model_keeps_its_backtest_origins(
    clustered: training.CoinBacktest,
) -> None:
    """Where a fitted model serves, there is no forecast before its backtest: its intervals
    are scored and served on its own origins only, while naive's reach back further."""
    selections = dict(clustered.selections)
    selections[7] = replace(selections[7], chosen="drift")
    origins, centers = training.interval_centers(clustered.results, selections, 1600, 365)
    point_origins = clustered.results["naive"].plan.origins
    assert origins[0] == 365 and origins[-1] == point_origins[-1]
    np.testing.assert_array_equal(centers[1], np.zeros(origins.size))
    before = origins < point_origins[0]
    assert np.isnan(centers[7][before]).all() and np.isfinite(centers[7][~before]).all()
    drift = clustered.results["drift"].forecasts
    drift = drift[drift["horizon"] == 7].set_index("origin_row")["predicted_log_return"]
    np.testing.assert_allclose(centers[7][~before], drift.loc[origins[~before]].to_numpy())

    data, _ = training.prepare(
        price_frame(list(np.exp(simulate_garch(1600, TRUE, seed=17)[0]))),
        coin="clustered",
        horizons=(1, 7),
    )
    result = backtest_intervals(data, origins, centers, audit=False)
    served = result.served[7]
    assert served["origin_at"].min() == data.index[point_origins[0]]
    assert served["point"].notna().all() and len(served) == (~before).sum()
    assert result.selections[7].n_origins <= (~before).sum()
    assert result.served[1]["origin_at"].min() == data.index[365]


def test_backtest_cli_writes_the_forecasts_csv_and_the_interval_table(
    tmp_path: Path,
    csv_dir: Path,  # noqa: F811 - the fixture
    env: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    report = tmp_path / "report.json"
    forecasts = tmp_path / "forecasts.csv"
    args = ["backtest", "--coins", "alpha", "--horizons", "1,7", "--models", "naive"]
    result = CliRunner().invoke(
        app,
        [
            *args,
            "--csv-dir",
            str(csv_dir),
            "--report",
            str(report),
            "--forecasts-csv",
            str(forecasts),
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "W80/base" in result.output and str(forecasts) in result.output
    written = pd.read_csv(forecasts)
    assert list(written.columns) == list(FORECAST_COLUMNS)
    assert set(written["coin"]) == {"alpha"} and set(written["horizon"]) == {1, 7}
    payload = json.loads(report.read_text())
    intervals = payload["coins"]["alpha"]["intervals"]
    assert set(intervals) == {"1", "7"}
    for horizon, selection in intervals.items():
        served = written[(written["horizon"] == int(horizon)) & written["scored"]]
        assert len(served) == selection["n_origins"]
