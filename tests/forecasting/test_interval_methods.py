"""Interval methods: they cover as promised on series whose true quantiles are known, never
read rows after their origin, and lose to the free baseline when made worse on purpose."""

from __future__ import annotations

import math
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cryptopredict.forecasting import metrics
from cryptopredict.forecasting.forecasters.base import FloatArray
from cryptopredict.forecasting.interval_methods import (
    BASELINE,
    Adaptive,
    BaselineConformal,
    EwmaConformal,
    GarchConformal,
    GarchParams,
    GarchT,
    IntervalInputs,
    IntervalLookAheadError,
    IntervalMethod,
    NaiveGaussian,
    adaptive_alphas,
    audit_method,
    default_methods,
    expanding_std,
    fit_garch,
    garch_path,
    horizon_variance,
    next_variance,
    one_step_returns,
)
from cryptopredict.forecasting.interval_selection import (
    compare_methods,
    coverage_band,
    select_interval_method,
)
from cryptopredict.forecasting.intervals import conformal_bounds
from cryptopredict.forecasting.predictive import (
    Empirical,
    Normal,
    Predictive,
    Shape,
    StudentT,
    central_probs,
)

TRUE = GarchParams(omega=2e-6, alpha=0.08, beta=0.9, dof=6.0, start_variance=1e-4)


def simulate_garch(n: int, params: GarchParams, seed: int) -> tuple[FloatArray, FloatArray]:
    """Log prices of a GARCH(1,1)-t series and the true next-step variance at each row."""
    rng = np.random.default_rng(seed)
    unit = math.sqrt((params.dof - 2.0) / params.dof)
    shocks = rng.standard_t(params.dof, size=n) * unit
    returns = np.zeros(n)
    variance = np.empty(n)
    variance[0] = params.start_variance
    for t in range(1, n):
        returns[t] = math.sqrt(variance[t - 1]) * shocks[t]
        variance[t] = params.omega + params.alpha * returns[t] ** 2 + params.beta * variance[t - 1]
    return np.cumsum(returns) + math.log(100.0), variance


def naive_inputs(log_price: FloatArray, first: int, horizons: tuple[int, ...]) -> IntervalInputs:
    """Every row from ``first`` on is an origin, the point forecast naive (no change)."""
    origins = np.arange(first, log_price.size, dtype=np.int64)
    return IntervalInputs(log_price, origins, {h: np.zeros(origins.size) for h in horizons})


@pytest.fixture(scope="module")
def garch_series() -> tuple[FloatArray, FloatArray]:
    return simulate_garch(3000, TRUE, seed=11)


# ---- distributions ----------------------------------------------------------------------------


def test_empirical_quantiles_are_the_conformal_ranks() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=300)
    shape = Empirical(scores, np.array([0, 100]), np.array([300, 300]))
    for level in (0.8, 0.95):
        lo, hi = central_probs(level)
        z = shape.ppf(np.array([[lo, hi], [lo, hi]]))
        assert tuple(z[0]) == conformal_bounds(scores, level)
        assert tuple(z[1]) == conformal_bounds(scores[100:], level)


def test_student_t_has_unit_variance_and_fatter_tails_than_normal() -> None:
    shape = StudentT(np.array([5.0]))
    q = shape.ppf(np.array([[0.001, 0.25]]))[0]
    unit = math.sqrt(3.0 / 5.0)
    assert q[1] == pytest.approx(stats.t.ppf(0.25, 5) * unit)
    assert q[0] < stats.norm.ppf(0.001)
    assert shape.sf(np.array([0.0]))[0] == pytest.approx(0.5)


def test_probability_up_follows_the_center() -> None:
    predictive = Predictive(np.array([0.02, 0.0, -0.02]), np.full(3, 0.04), Normal())
    up = predictive.prob_up()
    assert up[0] == pytest.approx(stats.norm.cdf(0.5))
    assert up[1] == pytest.approx(0.5)
    assert up[2] == pytest.approx(1 - stats.norm.cdf(0.5))


# ---- the baseline -----------------------------------------------------------------------------


def test_expanding_std_is_the_std_of_all_returns_so_far() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.03, 200)
    returns[0] = np.nan
    expected = pd.Series(returns).expanding(min_periods=2).std().to_numpy()
    np.testing.assert_allclose(expanding_std(returns), expected, rtol=1e-9, equal_nan=True)


def test_baseline_is_naive_with_sqrt_h_gaussian_bounds() -> None:
    log_price, _ = simulate_garch(400, TRUE, seed=3)
    inputs = naive_inputs(log_price, 100, (1, 7))
    centers = {h: np.full(inputs.origins.size, 0.05) for h in (1, 7)}  # ignored by the baseline
    run = NaiveGaussian().walk_forward(IntervalInputs(log_price, inputs.origins, centers))
    sigma = np.std(np.diff(log_price[:101]), ddof=1)
    lo, hi = run[7].bounds(0.8)
    assert lo[0] == pytest.approx(-1.2815516 * sigma * math.sqrt(7), rel=1e-6)
    assert hi[0] == pytest.approx(-lo[0])


# ---- GARCH ------------------------------------------------------------------------------------


def test_garch_h_step_variance_is_the_sum_of_the_forecasts() -> None:
    params = GarchParams(omega=1e-5, alpha=0.1, beta=0.85, dof=5.0, start_variance=4e-4)
    next_var = np.array([4e-4, 1e-4])
    expected = []
    for v in next_var:
        path = [v]
        for _ in range(9):
            path.append(params.omega + params.persistence * path[-1])
        expected.append(sum(path))
    np.testing.assert_allclose(horizon_variance(next_var, params, 10), expected, rtol=1e-12)


def test_garch_filter_matches_its_recursion() -> None:
    rng = np.random.default_rng(4)
    returns = np.concatenate([[np.nan], rng.normal(0, 0.02, 50)])
    filtered = next_variance(returns, TRUE)
    v = TRUE.start_variance
    for t in range(1, returns.size):
        v = TRUE.omega + TRUE.alpha * returns[t] ** 2 + TRUE.beta * v
        assert filtered[t] == pytest.approx(v, rel=1e-12)


def test_garch_fit_recovers_a_simulated_process(
    garch_series: tuple[FloatArray, FloatArray],
) -> None:
    log_price, _ = garch_series
    fitted = fit_garch(one_step_returns(log_price)[1:])
    assert fitted.persistence == pytest.approx(TRUE.persistence, abs=0.04)
    assert 3.5 < fitted.dof < 12
    assert fitted.omega / (1 - fitted.persistence) == pytest.approx(
        TRUE.omega / (1 - TRUE.persistence), rel=0.35
    )


def test_garch_tracks_the_true_volatility(garch_series: tuple[FloatArray, FloatArray]) -> None:
    log_price, true_var = garch_series
    inputs = naive_inputs(log_price, 1000, (1,))
    scale = GarchT().walk_forward(inputs)[1].scale
    truth = np.sqrt(true_var[inputs.origins])
    assert np.isfinite(scale).all()
    assert np.corrcoef(scale, truth)[0, 1] > 0.95
    assert np.median(np.abs(scale / truth - 1)) < 0.1


def test_garch_paths_computed_in_threads_match_the_serial_ones() -> None:
    """The path cache is shared by threads: each gets its own series' path back, never
    another's, while they fill and evict the cache at once."""
    series = [simulate_garch(700, TRUE, seed=seed)[0] for seed in range(6)]
    origins = np.arange(400, 700, dtype=np.int64)
    serial = [garch_path(log_price, origins, 100, 250).next_var for log_price in series]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so their cache updates interleave
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(5):
                threaded = list(pool.map(lambda lp: garch_path(lp, origins, 100, 250), series))
                for path, expected in zip(threaded, serial, strict=True):
                    np.testing.assert_array_equal(path.next_var, expected)
    finally:
        sys.setswitchinterval(switch)


# ---- coverage on known quantiles --------------------------------------------------------------


def assert_covers(method: IntervalMethod, log_price: FloatArray, horizon: int) -> None:
    inputs = naive_inputs(log_price, 1000, (horizon,))
    predictive = method.walk_forward(inputs)[horizon]
    actual = inputs.actual(horizon)
    rows = predictive.available & np.isfinite(actual)
    assert rows.sum() > 1500
    for level in (0.8, 0.95):
        lo, hi = predictive.bounds(level)
        covered = metrics.interval_coverage(actual[rows], lo[rows], hi[rows])
        low, high = coverage_band(level, int(rows.sum()), horizon)
        assert low <= covered <= high, (method.kind, level, covered)


@pytest.mark.parametrize("kind", [EwmaConformal, GarchT, GarchConformal])
@pytest.mark.parametrize("horizon", [1, 5])
def test_coverage_on_a_garch_series_is_within_sampling_error(
    garch_series: tuple[FloatArray, FloatArray], kind: type[IntervalMethod], horizon: int
) -> None:
    assert_covers(kind(), garch_series[0], horizon)


@pytest.mark.parametrize("kind", [NaiveGaussian, BaselineConformal])
@pytest.mark.parametrize("horizon", [1, 5])
def test_baseline_coverage_on_a_gaussian_walk_is_within_sampling_error(
    kind: type[IntervalMethod], horizon: int
) -> None:
    # The baseline's unconditional scale suits i.i.d. returns (on fat-tailed GARCH returns
    # its 80 % Gaussian bounds over-cover, as on real coins).
    log_price = np.cumsum(np.random.default_rng(8).normal(0, 0.03, 3000))
    assert_covers(kind(), log_price, horizon)


def test_garch_intervals_beat_the_baseline_where_volatility_clusters(
    garch_series: tuple[FloatArray, FloatArray],
) -> None:
    log_price, _ = garch_series
    inputs = naive_inputs(log_price, 1000, (1,))
    selection = compare_methods("synthetic", inputs, (NaiveGaussian(), GarchT()))[1]
    garch = selection.scores_of("garch_t")
    assert garch.winkler_ratio["80"] < 0.95
    assert garch.dm_p_value < 0.01
    assert selection.chosen == "garch_t"
    assert garch.crps < selection.scores_of(BASELINE).crps


# ---- adaptive conformal inference ------------------------------------------------------------


@dataclass(frozen=True)
class FixedScale:
    """Gaussian bounds with one scale for ever: miscalibrated once volatility moves."""

    scale: float
    kind: ClassVar[str] = "fixed"

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        n = inputs.origins.size
        return {
            h: Predictive(np.zeros(n), np.full(n, self.scale * math.sqrt(h)), Normal())
            for h in inputs.horizons
        }


@pytest.mark.parametrize("horizon", [1, 5])
def test_aci_restores_coverage_after_the_volatility_shifts(horizon: int) -> None:
    rng = np.random.default_rng(21)
    sigma = np.where(np.arange(8000) < 2000, 0.01, 0.02)  # volatility doubles, then stays
    log_price = np.cumsum(rng.normal(0, sigma))
    inputs = naive_inputs(log_price, 100, (horizon,))
    actual = inputs.actual(horizon)
    late = (inputs.origins >= 4000) & np.isfinite(actual)
    for method, expect_covered in ((FixedScale(0.01), False), (Adaptive(FixedScale(0.01)), True)):
        lo, hi = method.walk_forward(inputs)[horizon].bounds(0.8)
        covered = metrics.interval_coverage(actual[late], lo[late], hi[late])
        assert (abs(covered - 0.8) < 0.03) is expect_covered, (method.kind, covered)


def test_aci_widens_after_misses_and_narrows_after_hits() -> None:
    origins = np.arange(10, dtype=np.int64)
    misses = np.full(10, 0.999)  # every outcome far in the upper tail
    hits = np.full(10, 0.5)
    wider = adaptive_alphas(misses, origins, 1, 0.2, 0.01)
    narrower = adaptive_alphas(hits, origins, 1, 0.2, 0.01)
    assert wider[0] == narrower[0] == pytest.approx(0.2)
    assert (np.diff(wider) < 0).all() and (np.diff(narrower) > 0).all()
    # An h-step outcome counts only once known: nothing moves before h rows have passed.
    delayed = adaptive_alphas(misses, origins, 3, 0.2, 0.01)
    assert (delayed[:3] == pytest.approx(0.2)) and delayed[3] < 0.2


# ---- selection --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distorted:
    """A method made worse on purpose: the inner method's scale times ``factor``."""

    inner: IntervalMethod
    factor: float
    kind: ClassVar[str] = "distorted"

    def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
        return {
            h: Predictive(p.center, p.scale * self.factor, p.shape)
            for h, p in self.inner.walk_forward(inputs).items()
        }


@pytest.mark.parametrize("factor", [0.6, 1.8])
def test_a_method_made_worse_loses_to_the_baseline(
    garch_series: tuple[FloatArray, FloatArray], factor: float
) -> None:
    log_price, _ = garch_series
    inputs = naive_inputs(log_price, 1000, (1,))
    selection = compare_methods(
        "synthetic", inputs, (NaiveGaussian(), Distorted(GarchT(), factor))
    )[1]
    assert selection.chosen == BASELINE
    assert "no method beat" in selection.reason


def test_an_undercovering_method_is_refused_even_with_a_lower_score() -> None:
    # The baseline's own bounds, narrowed slightly: a lower Winkler score is possible on
    # calm noise, but 80 % bounds covering ~70 % fail the coverage rule.
    rng = np.random.default_rng(9)
    log_price = np.cumsum(rng.normal(0, 0.02, 4000))
    inputs = naive_inputs(log_price, 500, (1,))
    runs = {BASELINE: NaiveGaussian().walk_forward(inputs)[1]}
    base = runs[BASELINE]
    runs["narrow"] = Predictive(base.center, base.scale * 0.8, base.shape)
    selection = select_interval_method("noise", inputs, 1, runs)
    assert selection.scores_of("narrow").coverage["80"] < 0.76
    assert selection.chosen == BASELINE


def test_too_few_common_origins_leave_the_baseline_untested() -> None:
    log_price = np.cumsum(np.random.default_rng(3).normal(0, 0.02, 60))
    inputs = naive_inputs(log_price, 40, (1,))
    runs = {BASELINE: NaiveGaussian().walk_forward(inputs)[1]}
    selection = select_interval_method("short", inputs, 1, runs)
    assert selection.chosen == BASELINE
    assert selection.candidates == ()


def test_brier_scores_the_probability_of_a_rise_against_the_base_rate() -> None:
    rng = np.random.default_rng(12)
    # The drift changes sign every 250 rows: the base rate stays near 50 %, while a method
    # centred on the true drift knows which way the odds lean.
    drift = np.where((np.arange(3000) // 250) % 2 == 0, 0.006, -0.006)
    log_price = np.cumsum(rng.normal(drift, 0.01))
    origins = np.arange(500, 2999, dtype=np.int64)
    inputs = IntervalInputs(log_price, origins, {1: drift[origins + 1]})
    runs = {
        BASELINE: NaiveGaussian().walk_forward(inputs)[1],
        "informed": Predictive(inputs.centers[1], np.full(origins.size, 0.01), Normal()),
    }
    selection = select_interval_method("drifting", inputs, 1, runs)
    assert selection.scores_of("informed").brier_skill > 0.1
    assert abs(selection.scores_of(BASELINE).brier_skill) < 0.02  # always 50 %: no skill


# ---- look-ahead -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        NaiveGaussian(),
        Adaptive(NaiveGaussian()),
        BaselineConformal(),
        EwmaConformal(),
        GarchT(),
        GarchConformal(),
        Adaptive(GarchConformal()),
    ],
    ids=lambda method: method.kind,
)
def test_no_method_reads_rows_after_its_origin(
    garch_series: tuple[FloatArray, FloatArray], method: IntervalMethod
) -> None:
    log_price, _ = garch_series
    inputs = naive_inputs(log_price[:1800], 1000, (1, 7))
    audit_method(method, inputs, np.array([100, 437]))


def test_the_audit_catches_a_method_that_reads_the_future(
    garch_series: tuple[FloatArray, FloatArray],
) -> None:
    @dataclass(frozen=True)
    class Peeking:
        kind: ClassVar[str] = "peeking"

        def walk_forward(self, inputs: IntervalInputs) -> dict[int, Predictive]:
            # The whole series' volatility: known only at its end.
            sigma = np.full(inputs.origins.size, np.std(np.diff(inputs.log_price)))
            return {
                h: Predictive(np.zeros(inputs.origins.size), sigma * math.sqrt(h), Normal())
                for h in inputs.horizons
            }

    log_price, _ = garch_series
    inputs = naive_inputs(log_price[:1500], 1000, (1,))
    with pytest.raises(IntervalLookAheadError, match="peeking"):
        audit_method(Peeking(), inputs, np.array([50]))


# ---- edge cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    """A shape whose quantiles come out in the wrong order (as ACI's separately corrected
    levels can)."""

    def ppf(self, probs: FloatArray) -> FloatArray:
        return np.asarray(-stats.norm.ppf(probs), dtype=np.float64)

    def sf(self, z: FloatArray) -> FloatArray:
        return np.asarray(stats.norm.sf(z), dtype=np.float64)


def test_quantiles_never_cross() -> None:
    predictive = Predictive(np.zeros(2), np.ones(2), Crossing())
    q = predictive.quantiles((0.9, 0.1, 0.5))  # any order asked
    lo, mid, hi = q[:, 1], q[:, 2], q[:, 0]
    assert (lo <= mid).all() and (mid <= hi).all()


@pytest.mark.parametrize(
    "shape",
    [
        Normal(),
        StudentT(np.array([5.0])),
        Empirical(np.array([-1.0, 0.0, 1.0]), np.array([0]), np.array([3])),
    ],
    ids=["normal", "t", "empirical"],
)
def test_a_zero_scale_gives_no_probability_of_a_rise(shape: Shape) -> None:
    assert np.isnan(Predictive(np.zeros(1), np.zeros(1), shape).prob_up()[0])


def test_flat_prices_leave_the_baseline_serving_without_a_crash() -> None:
    log_price = np.full(800, math.log(1.0))
    inputs = naive_inputs(log_price, 300, (1, 7))
    selections = compare_methods("stablecoin", inputs, default_methods())
    assert {s.chosen for s in selections.values()} == {BASELINE}


def test_too_few_independent_windows_leave_the_baseline_untested() -> None:
    log_price, _ = simulate_garch(700, TRUE, seed=2)
    inputs = naive_inputs(log_price, 450, (30,))  # about 220 common origins: 7 windows of 30
    selection = compare_methods("young", inputs, (NaiveGaussian(), GarchT()))[30]
    assert selection.chosen == BASELINE and selection.candidates == ()
    assert "untested" in selection.reason
