"""Response bodies of the forecast, model and monitoring routes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from cryptopredict.forecasting.models import ModelEventKind, ModelStatus, PredictionRole
from cryptopredict.forecasting.training import DEFAULT_HORIZONS

SERVED_HORIZONS = DEFAULT_HORIZONS
"""Horizons (days) the service issues forecasts for: those models are trained for."""


class Bounds(BaseModel):
    """A forecast interval in price units."""

    lower: float
    upper: float


class ModelRef(BaseModel):
    """Which registered version made a forecast."""

    id: int
    kind: str = Field(description="naive, drift, mean, arima, lightgbm, lstm, ...")
    version: int


class IntervalRecord(BaseModel):
    """How the interval method that made a forecast's bounds did in the backtest, on the
    origins every method was scored on."""

    method: str
    coverage_80: float | None = Field(description="Share of actuals inside the 80 % bounds")
    coverage_95: float | None = Field(description="Share of actuals inside the 95 % bounds")
    winkler_ratio_80: float | None = Field(
        description="Mean 80 % Winkler score over the naive-on-log baseline's, same origins"
    )
    origins: int


class Skill(BaseModel):
    """What is measured of the model that made a forecast, next to naive's on the same origins.

    `backtest` is the training report's row (walk-forward, before the model served); `live`
    and `naive_live` are the scored ledger (after), None until a forecast's target has passed.
    """

    backtest: dict[str, Any] | None = Field(
        description="mae, naive_mae, relative_mae, dm_pvalue, skilled, coverage_80/95, ..."
    )
    live: dict[str, Any] | None = Field(
        description="n, mae, naive_mae, mae_ratio, coverage_80/95 with binomial band, Winkler "
        "scores next to naive's, diebold_mariano once n >= 30"
    )
    naive_live: dict[str, Any] | None = Field(description="naive's live record, same shape")
    intervals: IntervalRecord | None = Field(
        default=None,
        description="The backtest record of the interval method that made the bounds (null "
        "for bounds from the model's own conformal calibration: `backtest` has those)",
    )


QUANTILES_DESCRIPTION = (
    "The forecast's quantile fan: the target close's price per percent label (5, 10, 25, 50, "
    "75, 90, 95); null for forecasts issued before interval methods were chosen"
)


class ProbabilityUp(BaseModel):
    """The chance the target close is above the origin price, next to how such chances
    scored in the backtest: only served with that record."""

    value: float = Field(ge=0, le=1)
    brier: float = Field(description="Backtest Brier score of these probabilities")
    climatology_brier: float = Field(
        description="Brier score of the base rate (the share of rises so far) on the same origins"
    )
    brier_skill: float | None = Field(
        description="1 - brier / climatology_brier: above 0 beats the base rate"
    )
    origins: int = Field(description="Backtest origins scored")


class Forecast(BaseModel):
    """The served forecast of one horizon, with what it is worth."""

    horizon: int = Field(description="Days ahead")
    origin_at: dt.datetime = Field(description="Start of the bar forecast from (its close)")
    target_at: dt.datetime = Field(description="Start of the bar forecast (its close)")
    issued_at: dt.datetime
    origin_price: float
    point: float = Field(description="Point forecast of the target bar's close")
    interval_80: Bounds | None = Field(description="None while too few residuals calibrate it")
    interval_95: Bounds | None
    interval_method: str = Field(
        description="How the bounds were made: baseline, baseline_conformal, conformal, "
        "garch_t, garch_conformal, or one of them with +aci"
    )
    quantiles: dict[str, float] | None = Field(description=QUANTILES_DESCRIPTION)
    probability_up: ProbabilityUp | None = Field(
        description="P(target close > origin price) with its backtest Brier skill; null "
        "where no such record exists"
    )
    model: ModelRef
    skill: Skill
    verdict: str = Field(description="What the figures say, in plain words")
    stale: bool = Field(description="The origin bar is more than two bars older than now")
    expired: bool = Field(
        description="The production model's training data is too old; naive is served instead"
    )


class Unavailable(BaseModel):
    """A requested horizon without a forecast, and why."""

    horizon: int
    reason: str


class CoinForecasts(BaseModel):
    """A coin's served forecasts per horizon."""

    coin: str
    interval: str
    forecasts: list[Forecast]
    unavailable: list[Unavailable]


class LedgerEntry(BaseModel):
    """One issued forecast and, once its target bar closed, how it fared."""

    id: int
    horizon: int
    model: ModelRef
    role: PredictionRole
    origin_at: dt.datetime
    target_at: dt.datetime
    issued_at: dt.datetime
    origin_price: float
    point: float
    interval_80: Bounds | None
    interval_95: Bounds | None
    interval_method: str
    quantiles: dict[str, float] | None = Field(description=QUANTILES_DESCRIPTION)
    actual: float | None
    error: float | None = Field(description="point minus actual")
    abs_log_error: float | None
    inside_80: bool | None
    inside_95: bool | None
    winkler_80: float | None
    winkler_95: float | None
    scored_at: dt.datetime | None


class AccuracyRow(BaseModel):
    """A version's live record on the scoreboard."""

    coin: str
    interval: str
    horizon: int
    model: ModelRef
    status: ModelStatus
    live: dict[str, Any]
    updated_at: dt.datetime


class ModelSummary(BaseModel):
    """A registered version in the model list."""

    id: int
    coin: str
    interval: str
    horizon: int
    kind: str
    version: int
    status: ModelStatus
    created_at: dt.datetime
    promoted_at: dt.datetime | None
    train_start_at: dt.datetime
    train_end_at: dt.datetime


class ModelEventOut(BaseModel):
    """A status change of a version, who or what made it, and the figures behind it."""

    id: int
    model_id: int
    occurred_at: dt.datetime
    kind: ModelEventKind
    source: str = Field(description="monitoring, admin or training")
    reason: str
    figures: dict[str, Any]


class ModelCard(ModelSummary):
    """Everything known about a version: how it was trained and how it has done since."""

    params: dict[str, Any]
    features: list[str]
    data_quality: dict[str, Any]
    backtest: dict[str, Any]
    calibration: dict[str, Any] = Field(
        description="Per horizon and level: residuals held and the conformal bounds"
    )
    live: dict[str, Any] | None
    history: list[ModelEventOut]
