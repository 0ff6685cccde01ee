"""The portfolio's value band at each served horizon (``band``), from the coins' served
forecasts (the forecasting domain's service) and a year of their daily prices."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, localcontext

import numpy as np
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.forecasting import service as forecasting_service
from cryptopredict.forecasting.schemas import SERVED_HORIZONS, CoinForecasts
from cryptopredict.portfolios import band, valuation
from cryptopredict.portfolios.history import price_decimal
from cryptopredict.portfolios.lots import MONEY
from cryptopredict.portfolios.models import Portfolio
from cryptopredict.portfolios.schemas import PortfolioForecast, ValueBand
from cryptopredict.prices import service as prices_service
from cryptopredict.prices.schemas import WindowKey
from cryptopredict.prices.types import Interval

CORRELATION_DAYS = 365
DESCRIPTION = (
    "Each coin's served forecast quantiles (5-95 %, read as a piecewise-linear function of "
    "the normal score, extended linearly into the tails) give its h-day log return; a Gaussian "
    "copula with the correlation of the coins' daily log returns over the last 365 days draws "
    "them together; each draw values every coin at today's price times its return. Coins "
    "without a forecast stay at today's value."
)


def _daily_returns(session: Session, coin_ids: list[int], now: dt.datetime) -> np.ndarray:
    """Daily log returns of each coin's closes over the correlation window, one column per
    coin, aligned by day (NaN where a coin has no close)."""
    keys = [
        WindowKey(c, Interval.DAY.value, now - dt.timedelta(days=CORRELATION_DAYS + 1), now)
        for c in coin_ids
    ]
    series = prices_service.window_points(session=session, keys=keys)
    days = sorted({t.date() for points in series for t, _ in points})
    index = {d: i for i, d in enumerate(days)}
    closes = np.full((len(days), len(coin_ids)), np.nan)
    for j, points in enumerate(series):
        for t, price in points:
            if price > 0:
                closes[index[t.date()], j] = math.log(price)
    return np.diff(closes, axis=0) if len(days) > 1 else np.empty((0, len(coin_ids)))


def _coin_forecast(
    answer: CoinForecasts | None, horizon: int, value_now: float
) -> tuple[band.CoinForecast, dt.datetime] | None:
    if answer is None:
        return None
    served = next((f for f in answer.forecasts if f.horizon == horizon), None)
    if served is None or not served.quantiles or served.origin_price <= 0:
        return None
    pairs = sorted((float(label) / 100.0, price) for label, price in served.quantiles.items())
    if len(pairs) < 2 or any(price <= 0 for _, price in pairs):
        return None
    coin = band.CoinForecast(
        value_now,
        tuple(p for p, _ in pairs),
        tuple(math.log(price / served.origin_price) for _, price in pairs),
    )
    return coin, served.target_at


def forecast_band(
    *, session: Session, settings: Settings, portfolio: Portfolio, now: dt.datetime
) -> PortfolioForecast:
    """Simulated value quantiles per served horizon (see ``band``)."""
    _, holdings, warnings, _ = valuation.valued(session=session, portfolio=portfolio)
    priced = [h for h in holdings if h.value is not None and h.value > 0]
    with localcontext(MONEY):
        value_now = sum((Decimal(h.value) for h in priced if h.value is not None), Decimal(0))
    answers = {
        h.coin.id: forecasting_service.served_forecasts(
            session=session,
            settings=settings,
            identifier=h.coin.coingecko_id,
            horizons=SERVED_HORIZONS,
            now=now,
        )
        for h in priced
    }
    returns = _daily_returns(session, [h.coin.id for h in priced], now)
    bands: list[ValueBand] = []
    for horizon in SERVED_HORIZONS:
        drawn: list[tuple[int, band.CoinForecast, dt.datetime]] = []
        flat_value = 0.0
        flat: list[str] = []
        for j, holding in enumerate(priced):
            value = float(holding.value or 0)
            found = _coin_forecast(answers[holding.coin.id], horizon, value)
            if found is None:
                flat_value += value
                flat.append(holding.coin.coingecko_id)
            else:
                drawn.append((j, found[0], found[1]))
        columns = [j for j, _, _ in drawn]
        corr = band.correlation(returns[:, columns]) if columns else np.eye(0)
        values = band.simulate(
            [coin for _, coin, _ in drawn], corr, flat_value, seed=portfolio.id * 100 + horizon
        )
        targets = [target for _, _, target in drawn]
        bands.append(
            ValueBand(
                horizon=horizon,
                quantiles={
                    f"{round(p * 100)}": price_decimal(q) for p, q in band.band(values).items()
                },
                target_from=min(targets) if targets else None,
                target_to=max(targets) if targets else None,
                forecast_coins=[priced[j].coin.coingecko_id for j in columns],
                flat_coins=flat,
            )
        )
    return PortfolioForecast(
        portfolio_id=portfolio.id,
        value_now=value_now,
        method=band.METHOD,
        description=DESCRIPTION,
        correlation_days=CORRELATION_DAYS,
        simulations=band.SIMULATIONS,
        bands=bands,
        warnings=warnings,
    )
