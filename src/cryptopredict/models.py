"""Imports every table so metadata (and Alembic) sees the whole schema in one place."""

from cryptopredict.auth.models import RefreshToken, User
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import Base
from cryptopredict.forecasting.models import ModelVersion, Prediction
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.portfolios.models import Portfolio, PortfolioHistoryDay, PortfolioTransaction
from cryptopredict.prices.models import PriceData
from cryptopredict.tasks.models import TaskRun

TABLES = (
    Cryptocurrency,
    ModelVersion,
    Portfolio,
    PortfolioHistoryDay,
    PortfolioTransaction,
    Prediction,
    PriceData,
    RefreshToken,
    SyncRun,
    TaskRun,
    User,
)
"""Every mapped class: importing this module registers each table on the shared metadata."""

METADATA = Base.metadata
"""The whole schema, every table registered: what Alembic and the schema tests compare."""
