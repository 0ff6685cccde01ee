"""Imports every table so metadata (and Alembic) sees the whole schema in one place."""

from cryptopredict.auth.models import RefreshToken, Role, User
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import Base
from cryptopredict.forecasting.models import Prediction
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import SyncKind, SyncStatus
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction, TransactionKind
from cryptopredict.prices.models import PriceData
from cryptopredict.prices.types import Interval
from cryptopredict.tasks.models import TaskRun, TaskState

__all__ = [
    "Base",
    "Cryptocurrency",
    "Interval",
    "Portfolio",
    "PortfolioTransaction",
    "Prediction",
    "PriceData",
    "RefreshToken",
    "Role",
    "SyncKind",
    "SyncRun",
    "SyncStatus",
    "TaskRun",
    "TaskState",
    "TransactionKind",
    "User",
]
