"""Per coin and horizon, pick the model to serve, and say honestly whether it has skill.

The rule, applied to each horizon separately:

1. Every candidate is scored on the **common origins**: those where every candidate made a
   finite forecast and the target is known. Naive ("no change") is scored on the same origins.
2. The score is the MAE of log prices (``space="log"``, the default: scale-free, so a bull run's
   high prices do not dominate) or of prices (``space="price"``).
3. A candidate is **skilled** when its MAE is below naive's *and* a two-sided Diebold–Mariano
   test of its absolute errors against naive's (HAC variance over ``h - 1`` lags, Harvey
   correction; computed on log errors) has a p-value below ``alpha`` (0.05) divided by the
   number of candidates (Bonferroni, the default), which guards against one model passing by
   luck when many are tried; ``bonferroni=False`` tests each at ``alpha``.
4. The chosen model is the skilled candidate with the lowest MAE. If none is skilled, **naive
   is chosen** and ``skilled`` is False: a model that does not beat naive significantly is never
   presented as skilled, however small its MAE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cryptopredict.forecasting import metrics
from cryptopredict.forecasting.backtest import BacktestResult

NAIVE = "naive"
Space = Literal["log", "price"]


@dataclass(frozen=True)
class Candidate:
    """One model's out-of-sample record at one horizon, on the common origins.

    Attributes:
        model: the model's name (its ``kind`` unless named otherwise).
        mae: its MAE on the common origins (in ``space``).
        naive_mae: naive's MAE on the same origins.
        relative_mae: ``mae / naive_mae``.
        dm_statistic: Diebold–Mariano statistic against naive (negative: model better).
        dm_p_value: its two-sided p-value.
        skilled: better than naive and significant at the (possibly corrected) alpha.
    """

    model: str
    mae: float
    naive_mae: float
    relative_mae: float
    dm_statistic: float
    dm_p_value: float
    skilled: bool


@dataclass(frozen=True)
class Selection:
    """The model chosen for one coin and horizon, and why.

    Attributes:
        name: the series (coin id).
        horizon: steps ahead.
        chosen: the chosen model's name, ``"naive"`` when no candidate is skilled.
        skilled: whether the chosen model beats naive significantly.
        n_origins: common origins the comparison used.
        naive_mae: naive's MAE on them.
        alpha: the significance level used per candidate (after any correction).
        space: ``"log"`` or ``"price"``.
        reason: a sentence for reports.
        candidates: every candidate's record, best MAE first.
    """

    name: str
    horizon: int
    chosen: str
    skilled: bool
    n_origins: int
    naive_mae: float
    alpha: float
    space: str
    reason: str
    candidates: tuple[Candidate, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["candidates"] = [asdict(c) for c in self.candidates]
        return out


def _named(
    results: Mapping[str, BacktestResult] | Iterable[BacktestResult],
) -> dict[str, BacktestResult]:
    """Results keyed by model name; a sequence is keyed by each result's ``model``."""
    if isinstance(results, Mapping):
        return dict(results)
    named: dict[str, BacktestResult] = {}
    for r in results:
        if r.model in named:
            raise ValueError(f"two results for model {r.model!r}: pass a mapping with names")
        named[r.model] = r
    return named


def select_models(
    results: Mapping[str, BacktestResult] | Iterable[BacktestResult],
    *,
    alpha: float = 0.05,
    space: Space = "log",
    bonferroni: bool = True,
) -> dict[int, Selection]:
    """Choose per horizon between backtested models of one series, naive unless one has skill.

    Args:
        results: backtests of the same series (a mapping name -> result, or results keyed by
            their ``model``). A naive candidate may be among them; it is never "skilled".
        alpha: significance level of the Diebold–Mariano test.
        space: ``"log"`` scores log-price MAE, ``"price"`` price MAE.
        bonferroni: divide alpha by the number of non-naive candidates.

    Returns:
        Per horizon present in every result, the selection.

    Raises:
        ValueError: with no results, results for different series, or no common origin.
    """
    named = _named(results)
    if not named:
        raise ValueError("no backtest results to select from")
    names = {r.name for r in named.values()}
    if len(names) > 1:
        raise ValueError(f"results are for different series: {sorted(names)}")
    series = names.pop()
    horizon_sets = [set(r.metrics) for r in named.values()]
    horizons = sorted(set.intersection(*horizon_sets))
    contenders = [m for m in named if m != NAIVE]
    level = alpha / max(1, len(contenders)) if bonferroni else alpha
    out: dict[int, Selection] = {}
    for h in horizons:
        out[h] = _select_horizon(series, h, named, level, space)
    return out


def _select_horizon(
    series: str, horizon: int, named: Mapping[str, BacktestResult], alpha: float, space: Space
) -> Selection:
    """Apply the module's rule to one horizon."""
    cols = ["origin_row", "actual_log_return", "predicted_log_return", "actual_price",
            "predicted_price", "origin_price"]  # fmt: skip
    frames = {}
    for model, result in named.items():
        f = result.forecasts
        f = f.loc[f["horizon"] == horizon, cols]
        f = f[np.isfinite(f["actual_log_return"]) & np.isfinite(f["predicted_log_return"])]
        frames[model] = f.set_index("origin_row")
    common = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    if not common:
        raise ValueError(f"no common origins at horizon {horizon}")
    first = frames[next(iter(frames))].loc[common]
    actual_r = first["actual_log_return"].to_numpy()
    naive_err_log = actual_r
    if space == "log":
        naive_mae = metrics.mae(actual_r, np.zeros_like(actual_r))
    else:
        naive_mae = metrics.mae(first["actual_price"], first["origin_price"])
    candidates = []
    for model, f in frames.items():
        rows = f.loc[common]
        err_log = actual_r - rows["predicted_log_return"].to_numpy()
        if space == "log":
            mae = float(np.mean(np.abs(err_log)))
        else:
            mae = metrics.mae(rows["actual_price"], rows["predicted_price"])
        if model == NAIVE or np.array_equal(err_log, naive_err_log):
            stat, p = 0.0, 1.0
        elif len(common) >= 3:
            dm = metrics.diebold_mariano(err_log, naive_err_log, horizon)
            stat, p = dm.statistic, dm.p_value
        else:
            stat, p = float("nan"), float("nan")
        skilled = bool(mae < naive_mae and stat < 0 and p < alpha)
        candidates.append(
            Candidate(
                model=model,
                mae=mae,
                naive_mae=naive_mae,
                relative_mae=mae / naive_mae if naive_mae > 0 else float("nan"),
                dm_statistic=float(stat),
                dm_p_value=float(p),
                skilled=skilled,
            )
        )
    candidates.sort(key=lambda c: c.mae)
    best = next((c for c in candidates if c.skilled), None)
    if best is None:
        runner = candidates[0]
        reason = (
            f"no model beats naive significantly (best: {runner.model}, "
            f"MAE {runner.relative_mae:.3f}x naive, DM p={runner.dm_p_value:.3g}); naive is used"
        )
        chosen, skilled = NAIVE, False
    else:
        reason = (
            f"{best.model}: MAE {best.relative_mae:.3f}x naive on {len(common)} origins, "
            f"DM p={best.dm_p_value:.3g} < {alpha:.3g}"
        )
        chosen, skilled = best.model, True
    return Selection(
        name=series,
        horizon=horizon,
        chosen=chosen,
        skilled=skilled,
        n_origins=len(common),
        naive_mae=naive_mae,
        alpha=alpha,
        space=space,
        reason=reason,
        candidates=tuple(candidates),
    )


def select_all(
    results_by_series: Mapping[str, Mapping[str, BacktestResult] | Iterable[BacktestResult]],
    *,
    alpha: float = 0.05,
    space: Space = "log",
    bonferroni: bool = True,
) -> dict[str, dict[int, Selection]]:
    """``select_models`` for every coin at once: coin -> horizon -> selection."""
    return {
        name: select_models(res, alpha=alpha, space=space, bonferroni=bonferroni)
        for name, res in results_by_series.items()
    }


def selections_frame(selections: Mapping[str, Mapping[int, Selection]]) -> pd.DataFrame:
    """One row per coin and horizon with the chosen model and its evidence, for reports."""
    rows = []
    for name, per_h in selections.items():
        for h, sel in sorted(per_h.items()):
            best = next((c for c in sel.candidates if c.model == sel.chosen), None)
            rows.append(
                {
                    "name": name,
                    "horizon": h,
                    "chosen": sel.chosen,
                    "skilled": sel.skilled,
                    "n_origins": sel.n_origins,
                    "relative_mae": 1.0 if best is None else best.relative_mae,
                    "dm_p_value": None if best is None else best.dm_p_value,
                    "reason": sel.reason,
                }
            )
    return pd.DataFrame(rows)
