"""Factories for rows the tests need, so no test builds rows by hand."""

from __future__ import annotations

import datetime as dt
import itertools
from functools import lru_cache
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.auth.models import Role, User
from cryptopredict.auth.security import encode_token, hash_password
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import SyncKind, SyncStatus
from cryptopredict.prices.models import PriceData

DEFAULT_PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


@lru_cache(maxsize=4)
def _hashed(password: str) -> str:
    """Argon2 is slow by design; hash each test password once per run."""
    return hash_password(password)


class Factory:
    """Creates committed rows (inside the test's rolled-back transaction)."""

    def __init__(self, session: Session, client: TestClient) -> None:
        self.session = session
        self.client = client

    @property
    def settings(self) -> Settings:
        settings: Settings = self.client.app.state.settings  # type: ignore[attr-defined]
        return settings

    def user(
        self,
        *,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        role: Role = Role.USER,
        is_active: bool = True,
        full_name: str | None = None,
    ) -> User:
        """A user with a known password."""
        user = User(
            email=(email or f"user{next(_counter)}@example.com").lower(),
            hashed_password=_hashed(password),
            role=role,
            is_active=is_active,
            full_name=full_name,
        )
        self.session.add(user)
        self.session.commit()
        return user

    def admin(self, **kwargs: Any) -> User:
        """A user with the admin role."""
        return self.user(role=Role.ADMIN, **kwargs)

    def headers(self, user: User) -> dict[str, str]:
        """Authorization headers with a freshly signed access token for `user`."""
        token, _ = encode_token(
            self.settings,
            user_id=user.id,
            token_type="access",
            lifetime=dt.timedelta(minutes=5),
            generation=user.token_generation,
        )
        return {"Authorization": f"Bearer {token}"}

    def coin(
        self,
        coingecko_id: str | None = None,
        *,
        symbol: str | None = None,
        name: str | None = None,
        rank: int | None = None,
        is_active: bool = True,
    ) -> Cryptocurrency:
        """A tracked coin."""
        n = next(_counter)
        coingecko_id = coingecko_id or f"coin-{n}"
        coin = Cryptocurrency(
            coingecko_id=coingecko_id,
            symbol=symbol or coingecko_id[:4],
            name=name or coingecko_id.replace("-", " ").title(),
            market_cap_rank=rank,
            is_active=is_active,
        )
        self.session.add(coin)
        self.session.commit()
        return coin

    def daily_prices(
        self,
        coin: Cryptocurrency,
        closes: list[float],
        *,
        start: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        interval: str = "1d",
        step: dt.timedelta = dt.timedelta(days=1),
        volume: float | None = 1000.0,
    ) -> list[PriceData]:
        """Consecutive bars with the given closes (open = previous close)."""
        rows = []
        previous = closes[0]
        for i, close in enumerate(closes):
            rows.append(
                PriceData(
                    coin_id=coin.id,
                    interval=interval,
                    price_at=start + i * step,
                    open=previous,
                    high=max(previous, close),
                    low=min(previous, close),
                    close=close,
                    price=close,
                    volume=volume,
                    market_cap=close * 1_000_000,
                    source="test",
                )
            )
            previous = close
        self.session.add_all(rows)
        self.session.commit()
        return rows

    def sync_run(
        self,
        kind: SyncKind = SyncKind.PRICES,
        *,
        status: SyncStatus = SyncStatus.SUCCEEDED,
        started_at: dt.datetime,
        error: str | None = None,
    ) -> SyncRun:
        """A recorded sync run, finished a minute after it started unless still running."""
        running = status == SyncStatus.RUNNING
        run = SyncRun(
            kind=kind,
            status=status,
            started_at=started_at,
            finished_at=None if running else started_at + dt.timedelta(minutes=1),
            error=error,
        )
        self.session.add(run)
        self.session.commit()
        return run
