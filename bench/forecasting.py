"""Forecasting benchmarks: LSTM training cost, single-forecast latency of every model loaded
from the registry, and the full walk-forward backtest of every model over the shared coins.

Targets: LSTM training on 5 years of daily bitcoin < 60 s and < 1 GB peak memory (measured
in a fresh subprocess, so the figure is the training process's own high-water mark), p50
single-forecast latency < 5 ms per model, full backtest (all models x horizons 1/7/30 over
every coin in shared/data/prices) < 10 min. Figures are reported as measured, good or bad.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.common import SHARED_PRICES, BenchError, Section, percentile

if TYPE_CHECKING:
    from cryptopredict.forecasting.forecasters.base import ForecastData

HORIZONS = (1, 7, 30)
FIVE_YEARS_DAYS = 5 * 365 + 1
INFERENCE_RUNS = 200
LSTM_TARGET_SECONDS, LSTM_TARGET_BYTES = 60.0, 2**30
INFERENCE_TARGET_MS = 5.0
BACKTEST_TARGET_SECONDS = 600.0
INTERVAL_TARGET_MS = 1.0

_LSTM_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    started = time.perf_counter()
    from cryptopredict.forecasting import dataset
    from cryptopredict.forecasting.forecasters import make_forecaster
    imported = time.perf_counter()
    series = dataset.load_csv(sys.argv[1])
    frame = series.frame.iloc[-int(sys.argv[2]):]
    data = dataset.build_forecast_data(
        dataset.from_frame(frame, series.interval, name=series.name), (1, 7, 30)
    )
    built = time.perf_counter()
    model = make_forecaster("lstm", horizons=(1, 7, 30)).fit(data)
    trained = time.perf_counter()
    print(json.dumps({
        "rows": len(data),
        "import_s": imported - started,
        "data_s": built - imported,
        "train_s": trained - built,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "params": model.get_params(),
    }))
    """
)


def _lstm_training(section: Section) -> None:
    """Train the LSTM once in a fresh interpreter and read its wall time and peak RSS."""
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _LSTM_CHILD,
            str(SHARED_PRICES / "bitcoin.csv"),
            str(FIVE_YEARS_DAYS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchError(f"LSTM training failed: {completed.stderr.strip()[-500:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    peak = figures["maxrss_kib"] * 1024
    train_s = figures["train_s"]
    section.add(
        "### LSTM training, 5 years of daily bitcoin",
        "",
        f"One fit on the last {figures['rows']:,} daily rows of bitcoin, horizons 1/7/30, in a "
        "fresh Python process (CPU). Peak memory is that process's `ru_maxrss`, which "
        "includes importing torch.",
        "",
        "| measure | value | target |",
        "|---|---:|---:|",
        f"| training wall time | {train_s:.1f} s | < {LSTM_TARGET_SECONDS:.0f} s "
        f"{'(met)' if train_s < LSTM_TARGET_SECONDS else '(**missed**)'} |",
        f"| peak memory (RSS) | {peak / 2**20:,.0f} MiB | < 1 GiB "
        f"{'(met)' if peak < LSTM_TARGET_BYTES else '(**missed**)'} |",
        f"| imports (torch, pandas, ...) | {figures['import_s']:.1f} s | |",
        f"| features and targets | {figures['data_s']:.2f} s | |",
        "",
        f"Hyper-parameters: `{json.dumps(figures['params'], sort_keys=True)}`",
        "",
    )


def _five_years_of_bitcoin() -> ForecastData:
    """The last 5 years of the shared daily bitcoin series, with features and targets."""
    from cryptopredict.forecasting import dataset

    series = dataset.load_csv(SHARED_PRICES / "bitcoin.csv")
    frame = series.frame.iloc[-FIVE_YEARS_DAYS:]
    return dataset.build_forecast_data(
        dataset.from_frame(frame, series.interval, name="bitcoin"), HORIZONS
    )


def _inference(section: Section) -> None:
    """Fit each model on 5 years of bitcoin, save and reload it through the registry, then
    time one forecast (one origin, every horizon, back to prices) many times."""
    from cryptopredict.forecasting import registry
    from cryptopredict.forecasting.forecasters import FORECASTERS, make_forecaster

    data = _five_years_of_bitcoin()
    origin = np.array([len(data) - 1], dtype=np.int64)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-models-") as root:
        for kind in sorted(FORECASTERS):
            model = make_forecaster(kind, horizons=HORIZONS).fit(data)
            saved = registry.save_artifact(model, Path(root), f"bitcoin/1d/all/{kind}/v1")
            started = time.perf_counter()
            loaded = registry.load_artifact(Path(root), saved.path, saved.sha256)
            load_ms = (time.perf_counter() - started) * 1000
            timings = []
            for _ in range(INFERENCE_RUNS):
                started = time.perf_counter()
                returns = loaded.predict(data, origin)
                np.exp(data.log_price[origin][:, None] + returns)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            rows.append((kind, percentile(timings, 0.5), percentile(timings, 0.99), load_ms))
    section.add(
        "### Single forecast from a loaded model",
        "",
        f"Each model fitted on 5 years of daily bitcoin, saved and loaded back through the "
        f"registry (hash-verified), then one forecast (the newest origin, horizons 1/7/30, "
        f"converted to prices) timed {INFERENCE_RUNS} times. Target: p50 < "
        f"{INFERENCE_TARGET_MS:.0f} ms.",
        "",
        "| model | p50 ms | p99 ms | verified load ms | p50 target |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {kind} | {p50:.3f} | {p99:.3f} | {load:.1f} | "
            f"{'met' if p50 < INFERENCE_TARGET_MS else '**missed**'} |"
            for kind, p50, p99, load in rows
        ),
        "",
    )


def _interval_serving(section: Section) -> None:
    """The interval work an issued forecast adds: each method's stored state (from a
    walk-forward over the last origins of 5 years of bitcoin) put around a new point forecast,
    with the 80/95 % bounds, the 5-95 % fan and P(up), timed many times."""
    from cryptopredict.forecasting.interval_methods import IntervalInputs, default_methods
    from cryptopredict.forecasting.interval_models import serving_model
    from cryptopredict.forecasting.predictive import FAN_PROBS

    data = _five_years_of_bitcoin()
    origins = np.arange(len(data) // 2, len(data), dtype=np.int64)
    horizon = 7
    inputs = IntervalInputs(data.log_price, origins, {horizon: np.zeros(origins.size)})
    probs = (0.025, *FAN_PROBS, 0.975)
    rows = []
    for method in default_methods():
        model = serving_model(method, inputs, horizon, method.walk_forward(inputs)[horizon])
        timings = []
        for _ in range(INFERENCE_RUNS):
            started = time.perf_counter()
            predictive = model.predictive(data.log_price, 0.0)
            np.exp(data.log_price[-1] + predictive.quantiles(probs))
            predictive.prob_up()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        rows.append((method.kind, percentile(timings, 0.5), percentile(timings, 0.99)))
    section.add(
        "### Intervals around an issued forecast",
        "",
        f"Each interval method's stored state (`forecasting.interval_models`) put around a new "
        f"h={horizon} forecast from the newest of 5 years of daily bitcoin: its volatility "
        f"filter over the series, the 80/95 % bounds, the 5-95 % fan and P(up), timed "
        f"{INFERENCE_RUNS} times. Target: under {INTERVAL_TARGET_MS:.0f} ms. Serving reads "
        "what issuing stored, so requests pay none of it.",
        "",
        "| method | p50 ms | p99 ms | p99 target |",
        "|---|---:|---:|---|",
        *(
            f"| {kind} | {p50:.3f} | {p99:.3f} | "
            f"{'met' if p99 < INTERVAL_TARGET_MS else '**missed**'} |"
            for kind, p50, p99 in rows
        ),
        "",
    )


def _mean(values: list[Any]) -> float | None:
    numbers = [v for v in values if v is not None]
    return statistics.fmean(numbers) if numbers else None


def _cell(value: float | None, pattern: str = "{:.3f}") -> str:
    return "–" if value is None else pattern.format(value)


def _full_backtest(section: Section) -> None:
    """Every model at horizons 1/7/30 over every shared coin, as `cryptopredict backtest`."""
    from cryptopredict.forecasting import training

    coins = sorted(path.stem for path in SHARED_PRICES.glob("*.csv"))
    if not coins:
        raise BenchError(f"no price files in {SHARED_PRICES}")
    config = training.TrainingConfig()
    started = time.perf_counter()
    backtests = []
    per_coin: list[tuple[str, float]] = []
    for coin in coins:
        coin_started = time.perf_counter()
        frame = training.load_csv_prices(SHARED_PRICES, coin)
        backtests.append(training.backtest_coin(frame, coin=coin, horizons=HORIZONS, config=config))
        per_coin.append((coin, time.perf_counter() - coin_started))
    wall = time.perf_counter() - started
    payload = training.report(backtests)
    rows = payload["results"]

    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["horizon"])].append(row)
    table = [
        "| model | h | MASE | MAE / naive MAE | dir. acc | always up | DM p (median) "
        "| DM p < 0.05 | skilled | cov 80 | cov 95 | forecasts | selected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (model, horizon), group in sorted(
        groups.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        pvalues = sorted(r["dm_pvalue"] for r in group if r.get("dm_pvalue") is not None)
        table.append(
            f"| {model} | {horizon} | {_cell(_mean([r.get('mase') for r in group]))} "
            f"| {_cell(_mean([r.get('relative_mae') for r in group]))} "
            f"| {_cell(_mean([r.get('directional_accuracy') for r in group]), '{:.1%}')} "
            f"| {_cell(_mean([r.get('always_up') for r in group]), '{:.1%}')} "
            f"| {_cell(statistics.median(pvalues) if pvalues else None)} "
            f"| {sum(p < 0.05 for p in pvalues)}/{len(group)} "
            f"| {sum(bool(r['skilled']) for r in group)} "
            f"| {_cell(_mean([r.get('coverage_80') for r in group]), '{:.1%}')} "
            f"| {_cell(_mean([r.get('coverage_95') for r in group]), '{:.1%}')} "
            f"| {sum(int(r.get('n_forecasts') or 0) for r in group):,} "
            f"| {sum(bool(r['selected']) for r in group)} |"
        )
    section.add(
        "### Full backtest: every model x horizons 1/7/30 x every shared coin",
        "",
        f"Coins: {', '.join(coins)} (daily, `shared/data/prices`). Walk-forward on the same "
        "origins for every model (`forecasting.training` on `forecasting.backtest`; the LSTM "
        f"refits every {config.refit_every('lstm')} origins, the others every "
        f"{config.refit_every('naive')}), conformal 80/95 % intervals from "
        "out-of-sample residuals. Figures are means over the coins; DM is the two-sided "
        "Diebold-Mariano test of log errors against naive on the common origins, counted per "
        "coin (a low p-value means better *or worse* than naive: read it with MAE / naive "
        "MAE); *skilled* counts coins where the model is better and its DM p-value is below "
        "0.05 divided by the number of candidates (Bonferroni), and *selected* where it "
        "serves (naive unless a model is skilled).",
        "",
        f"Wall time: **{wall:.0f} s** (target < {BACKTEST_TARGET_SECONDS:.0f} s, "
        f"{'met' if wall < BACKTEST_TARGET_SECONDS else '**missed**'}); per coin: "
        + ", ".join(f"{coin} {seconds:.0f} s" for coin, seconds in per_coin)
        + ".",
        "",
        *table,
        "",
        "Data quality of each series as training records it with every version "
        "(`forecasting.quality`): gaps of up to 3 days are interpolated in log price, longer "
        "ones cut the series; outliers are one-day moves with |robust z| > 6, reported, not "
        "removed.",
        "",
        "| coin | rows | from | to | gaps filled | gaps cut | rows cut | interpolated "
        "| outliers | volume missing |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
        *(_quality_row(b.coin, b.quality) for b in backtests),
        "",
    )
    interval_seconds = sum(b.intervals.seconds for b in backtests if b.intervals is not None)
    _interval_table(section, payload["coins"], interval_seconds, wall - interval_seconds)
    _interval_reference(section, backtests)


def _interval_table(
    section: Section, coins: dict[str, Any], interval_seconds: float, point_seconds: float
) -> None:
    """Issue 13's figures: the interval method served per coin x horizon against the
    naive-on-log baseline, on the origins training scores intervals on."""
    selections = {coin: details.get("intervals", {}) for coin, details in coins.items()}
    lines, targets = _interval_rows(selections)
    share = interval_seconds / point_seconds if point_seconds > 0 else float("nan")
    section.add(
        "### Intervals: the method served per coin x horizon against the free baseline",
        "",
        "Around each horizon's served point model every interval method "
        "(`forecasting.interval_methods`) is walked forward from the past only, on every daily "
        "origin from a year of history where naive serves (it needs no fit), else on the point "
        "backtest's origins (`training.interval_centers`); one "
        "replaces the baseline (naive on log prices, Gaussian bounds from the standard "
        "deviation of all one-step log returns so far, times sqrt(h)) only with a lower mean "
        "80 % Winkler score, a significant Diebold-Mariano test (Bonferroni over methods) and "
        "coverage within 4 points of nominal (`forecasting.interval_selection`). Scores on log "
        "prices over the origins every method covers; the coverage band is what sampling alone "
        "gives a calibrated interval (n / h independent windows); CRPS from the 5-95 % "
        "quantiles; Brier skill of P(price higher) against the base rate.",
        "",
        *lines,
        "",
        *targets,
        f"- Interval work: {interval_seconds:.1f} s, {share:.0%} of the point backtests' "
        f"{point_seconds:.0f} s (target <= 50 %, {_met(share <= 0.5)}).",
        "",
    )


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _interval_rows(selections: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The per coin x horizon table of served interval methods and the issue's target lines,
    from ``IntervalSelection.to_dict()`` payloads per coin and horizon."""
    lines = [
        "| coin | h | served method | W80 / baseline | W95 / baseline | cov 80 (band) "
        "| cov 95 (band) | width 80 | CRPS / baseline | Brier skill | origins |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[int, list[float]] = defaultdict(list)
    hindsight: dict[int, list[float]] = defaultdict(list)
    worst_ratio = 0.0
    coverage_ok = True
    for coin, by_horizon in selections.items():
        for horizon, selection in by_horizon.items():
            scores = {c["method"]: c for c in selection["candidates"]}
            chosen, base = scores.get(selection["chosen"]), scores.get("baseline")
            if chosen is None or base is None:
                lines.append(f"| {coin} | {horizon} | {selection['chosen']} | " + "– | " * 8)
                coverage_ok = False
                continue
            w80 = chosen["winkler_ratio"]["80"]
            ratios[int(horizon)].append(w80)
            hindsight[int(horizon)].append(_best_in_hindsight(scores.values()))
            worst_ratio = max(worst_ratio, w80)
            cov80, cov95 = chosen["coverage"]["80"], chosen["coverage"]["95"]
            coverage_ok &= 0.77 <= cov80 <= 0.84 and 0.92 <= cov95 <= 0.97
            band80, band95 = chosen["coverage_band"]["80"], chosen["coverage_band"]["95"]
            lines.append(
                f"| {coin} | {horizon} | {selection['chosen']} | {w80:.3f} "
                f"| {chosen['winkler_ratio']['95']:.3f} "
                f"| {cov80:.1%} ({band80[0]:.0%}–{band80[1]:.0%}) "
                f"| {cov95:.1%} ({band95[0]:.0%}–{band95[1]:.0%}) "
                f"| {chosen['mean_relative_width']['80']:.1%} "
                f"| {chosen['crps'] / base['crps']:.3f} "
                f"| {_cell(chosen['brier_skill'], '{:+.3f}')} "
                f"| {chosen['n']:,} |"
            )
    median = {h: statistics.median(v) for h, v in ratios.items() if v}
    targets = [
        f"- Served 80 % Winkler <= 1.00x the baseline everywhere: worst {worst_ratio:.3f} "
        f"({_met(worst_ratio <= 1.0)}).",
        *(
            f"- Median served 80 % Winkler at h={h}: {median[h]:.3f}x (target <= {target}, "
            f"{_met(median[h] <= target)}); picking each coin's best calibrated method in "
            f"hindsight, with no test, would give {statistics.median(hindsight[h]):.3f}x."
            for h, target in ((1, 0.88), (7, 0.97))
            if h in median
        ),
        f"- Coverage of served 80/95 % intervals within 77-84 % / 92-97 % everywhere: "
        f"{_met(coverage_ok)}.",
    ]
    return lines, targets


def _best_in_hindsight(candidates: Any) -> float:
    """The lowest 80 % Winkler ratio among methods (the baseline included) whose coverage lies
    within 4 points of nominal at both levels, found after the fact: the best any selection
    among these methods could serve."""
    ratios = [
        float(c["winkler_ratio"]["80"])
        for c in candidates
        if c["method"] == "baseline"
        or (abs(c["coverage"]["80"] - 0.8) <= 0.04 and abs(c["coverage"]["95"] - 0.95) <= 0.04)
    ]
    return min(ratios)


def _interval_reference(section: Section, backtests: list[Any]) -> None:
    """The same selection on the point backtest's origins only (its second half): how much
    the figures depend on the origins scored."""
    from cryptopredict.forecasting import training
    from cryptopredict.forecasting.interval_backtest import backtest_intervals

    selections: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for coin_backtest in backtests:
        frame = training.load_csv_prices(SHARED_PRICES, coin_backtest.coin)
        data, _ = training.prepare(frame, coin=coin_backtest.coin, horizons=HORIZONS)
        first = int(coin_backtest.results["naive"].plan.origins[0])
        origins, centers = training.interval_centers(
            coin_backtest.results, coin_backtest.selections, len(data), history=first
        )
        result = backtest_intervals(data, origins, centers, audit=False)
        selections[coin_backtest.coin] = {
            str(h): selection.to_dict() for h, selection in result.selections.items()
        }
    seconds = time.perf_counter() - started
    lines, targets = _interval_rows(selections)
    section.add(
        "### Intervals on the point backtest's origins only (reference, not what is served)",
        "",
        "The same methods and selection scored only where the point models were backtested "
        "(each series' second half), as before naive's intervals reached back to a year of "
        "history: half the origins, without the 2014-2017 years in which volatility fell "
        "and the baseline's all-history standard deviation was furthest from the recent one. "
        f"{seconds:.0f} s.",
        "",
        *lines,
        "",
        *targets,
        "",
    )


def _quality_row(coin: str, quality: dict[str, Any]) -> str:
    """One line of the data-quality table."""
    gaps = quality["gaps"]
    return (
        f"| {coin} | {quality['length']:,} | {str(quality['first_at'])[:10]} "
        f"| {str(quality['last_at'])[:10]} | {sum(g['filled'] for g in gaps)} "
        f"| {sum(not g['filled'] for g in gaps)} | {quality['dropped_rows']:,} "
        f"| {quality['interpolated_count']} | {len(quality['outliers'])} "
        f"| {quality['volume_missing_ratio']:.1%} |"
    )


def run() -> Section:
    """All three forecasting benchmarks in one section."""
    section = Section("Forecasting")
    _lstm_training(section)
    _inference(section)
    _interval_serving(section)
    _full_backtest(section)
    return section
