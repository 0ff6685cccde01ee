"""SQL for the coin catalogue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.repository import Repository


class CoinRepository(Repository[Cryptocurrency]):
    """Coins by CoinGecko id, symbol, name prefix and rank."""

    model = Cryptocurrency
    sortable = frozenset({"market_cap_rank", "name", "symbol", "coingecko_id", "id"})

    def get_by_coingecko_id(self, coingecko_id: str) -> Cryptocurrency | None:
        """The coin with this CoinGecko id (ids are lower-case)."""
        statement = select(Cryptocurrency).where(
            Cryptocurrency.coingecko_id == coingecko_id.lower()
        )
        return self.session.scalars(statement).first()

    def get_by_symbol(self, symbol: str) -> Cryptocurrency | None:
        """The best-ranked coin with this ticker symbol (symbols are not unique)."""
        statement = (
            select(Cryptocurrency)
            .where(Cryptocurrency.symbol == symbol.lower())
            .order_by(Cryptocurrency.market_cap_rank.is_(None), Cryptocurrency.market_cap_rank)
            .limit(1)
        )
        return self.session.scalars(statement).first()

    def get_many_by_coingecko_ids(self, coingecko_ids: Sequence[str]) -> list[Cryptocurrency]:
        """Coins for a list of CoinGecko ids; unknown ids are simply absent."""
        if not coingecko_ids:
            return []
        statement = select(Cryptocurrency).where(
            Cryptocurrency.coingecko_id.in_([i.lower() for i in coingecko_ids])
        )
        return list(self.session.scalars(statement))

    def search_condition(self, prefix: str) -> ColumnElement[bool]:
        """Name or symbol starts with `prefix`, case-insensitively."""
        pattern = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return or_(
            func.lower(Cryptocurrency.name).like(pattern, escape="\\"),
            Cryptocurrency.symbol.like(pattern, escape="\\"),
            Cryptocurrency.coingecko_id.like(pattern, escape="\\"),
        )

    def top_by_rank(self, limit: int) -> list[Cryptocurrency]:
        """The `limit` best-ranked active coins."""
        statement = (
            select(Cryptocurrency)
            .where(Cryptocurrency.is_active.is_(True), Cryptocurrency.market_cap_rank.is_not(None))
            .order_by(Cryptocurrency.market_cap_rank)
            .limit(limit)
        )
        return list(self.session.scalars(statement))
