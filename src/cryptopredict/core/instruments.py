"""Every metric CryptoPredict exposes, with the typed functions that record them.

One module rather than one per domain: the names, label sets and meanings are read in one
place (README's "Metrics" lists the same), labels are plain strings so no domain needs
another's types, and every domain (forecasting included) records without importing another.
Label values are always bounded sets (route templates, never raw paths; endpoint and task
names; coin ids of tracked coins), since each distinct value is a time series.
"""

from __future__ import annotations

from typing import Literal

from cryptopredict.core.metrics import counter, gauge, histogram

HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
"""Seconds: the cached mirror answers in well under a millisecond, a history query in tens."""
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TASK_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)

HTTP_REQUESTS = counter(
    "cryptopredict_http_requests",
    "HTTP requests answered, by method, route template (unmatched: no route) and status.",
    ("method", "route", "status"),
)
HTTP_DURATION = histogram(
    "cryptopredict_http_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte, by method and route template.",
    ("method", "route"),
    HTTP_BUCKETS,
)

CoinGeckoOutcome = Literal[
    "ok",
    "cancelled",  # the call was abandoned (or failed unexpectedly) before an answer
    "rate_limited",
    "timeout",
    "connection_error",
    "server_error",
    "auth_error",
    "not_found",
    "client_error",
    "malformed",
]
COINGECKO_REQUESTS = counter(
    "cryptopredict_coingecko_requests",
    "HTTP requests sent to CoinGecko (retries included), by endpoint and outcome: ok, "
    "rate_limited (a 429) or the kind of failure.",
    ("endpoint", "outcome"),
)
COINGECKO_DURATION = histogram(
    "cryptopredict_coingecko_request_duration_seconds",
    "Time CoinGecko took to answer (or fail), by endpoint.",
    ("endpoint",),
    UPSTREAM_BUCKETS,
)
RefusalReason = Literal["circuit_open", "rate_limit_wait"]
COINGECKO_REFUSED = counter(
    "cryptopredict_coingecko_refused",
    "CoinGecko calls not sent: the circuit breaker was open, or the rate limiter would have "
    "made the call wait longer than allowed.",
    ("reason",),
)
BreakerState = Literal["closed", "half_open", "open"]
BREAKER_CODES: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}
BREAKER_STATE = gauge(
    "cryptopredict_coingecko_breaker_state",
    "The CoinGecko circuit breaker as last seen by any process: 0 closed, 1 half-open, 2 open.",
)
BREAKER_OPENED = counter(
    "cryptopredict_coingecko_breaker_opened", "Times the CoinGecko circuit breaker opened."
)

TASK_RUNS = counter(
    "cryptopredict_task_runs",
    "Background task attempts that ended, by task kind and outcome (succeeded, failed, "
    "retrying: another attempt follows, skipped: another run held the lock, revoked: found "
    "cancelled when its turn came), counted in the process that ran them.",
    ("task", "outcome"),
)
TASK_DURATION = histogram(
    "cryptopredict_task_run_duration_seconds",
    "How long task attempts that ran their job took, by task kind.",
    ("task",),
    TASK_BUCKETS,
)

FORECASTS_ISSUED = counter(
    "cryptopredict_forecasts_issued",
    "Forecasts written to the ledger, by horizon (bars) and model.",
    ("horizon", "model"),
)
PREDICTIONS_SCORED = counter(
    "cryptopredict_predictions_scored", "Ledger forecasts scored against what happened."
)
LIVE_MAE_RATIO = gauge(
    "cryptopredict_forecast_live_mae_ratio",
    "Live MAE of a model over naive's on the same origins (below 1: better than naive), by "
    "coin, horizon and model; NaN until enough forecasts were scored.",
    ("coin", "horizon", "model"),
)
LIVE_COVERAGE = gauge(
    "cryptopredict_forecast_live_interval_coverage",
    "Share of scored forecasts whose interval at `level` held the actual, by coin, horizon "
    "and model; NaN until enough were scored.",
    ("coin", "horizon", "model", "level"),
)


def coingecko_request(endpoint: str, outcome: CoinGeckoOutcome, seconds: float) -> None:
    """One request sent to CoinGecko and how it ended."""
    COINGECKO_REQUESTS().labels(endpoint, outcome).inc()
    COINGECKO_DURATION().labels(endpoint).observe(seconds)


def coingecko_refused(reason: RefusalReason) -> None:
    """A CoinGecko call that was not sent."""
    COINGECKO_REFUSED().labels(reason).inc()


def breaker_state(state: BreakerState, *, opened: bool = False) -> None:
    """The breaker's state after an operation; `opened`: this operation opened it."""
    BREAKER_STATE().set(BREAKER_CODES[state])
    if opened:
        BREAKER_OPENED().inc()


def task_run(task: str, outcome: str, seconds: float | None = None) -> None:
    """One task attempt that ended (`outcome`: its final state's name, a `TaskState`);
    `seconds` when its job ran."""
    TASK_RUNS().labels(task, outcome).inc()
    if seconds is not None:
        TASK_DURATION().labels(task).observe(seconds)


def forecasts_issued(count: int, *, horizon: int | str, model: str) -> None:
    """`count` forecasts of one horizon and model written to the ledger (0 is recorded too,
    so the series exists from the first issuing run)."""
    FORECASTS_ISSUED().labels(str(horizon), model).inc(_count(count))


def predictions_scored(count: int) -> None:
    """`count` ledger forecasts scored."""
    PREDICTIONS_SCORED().inc(_count(count))


def live_accuracy(
    coin: str,
    horizon: int | str,
    model: str,
    *,
    mae_ratio: float | None,
    coverage_80: float | None,
    coverage_95: float | None,
) -> None:
    """A model's live record on one coin and horizon; None (not enough scores yet) is
    exposed as NaN, so an older figure never stands in for a missing one."""
    labels = (coin, str(horizon), model)
    LIVE_MAE_RATIO().labels(*labels).set(_figure(mae_ratio))
    LIVE_COVERAGE().labels(*labels, "0.8").set(_figure(coverage_80))
    LIVE_COVERAGE().labels(*labels, "0.95").set(_figure(coverage_95))


def _count(count: int) -> int:
    if count < 0:
        raise ValueError(f"a count cannot be negative: {count}")
    return count


def _figure(value: float | None) -> float:
    return float("nan") if value is None else float(value)
