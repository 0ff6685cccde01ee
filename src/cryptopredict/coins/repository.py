"""SQL for the coin catalogue."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Select, func, or_, select

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.coins.schemas import CatalogueOrder, CoinBrief, CoinListing
from cryptopredict.core.pagination import PageParams
from cryptopredict.core.repository import Repository

_SORT_COLUMNS: dict[str, Any] = {
    "market_cap_rank": Cryptocurrency.market_cap_rank,
    "name": func.lower(Cryptocurrency.name),
    "symbol": Cryptocurrency.symbol,
}


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

    def get_many_by_ids(self, ids: Iterable[int]) -> list[Cryptocurrency]:
        """Coins by primary key; unknown ids are simply absent."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return list(
            self.session.scalars(select(Cryptocurrency).where(Cryptocurrency.id.in_(wanted)))
        )

    def get_many_by_coingecko_ids(self, coingecko_ids: Sequence[str]) -> list[Cryptocurrency]:
        """Coins for a list of CoinGecko ids; unknown ids are simply absent."""
        if not coingecko_ids:
            return []
        statement = select(Cryptocurrency).where(
            Cryptocurrency.coingecko_id.in_([i.lower() for i in coingecko_ids])
        )
        return list(self.session.scalars(statement))

    def briefs_by_coingecko_ids(self, coingecko_ids: Sequence[str]) -> list[CoinBrief]:
        """Id, CoinGecko id, symbol and name for a list of ids, as plain tuples."""
        if not coingecko_ids:
            return []
        statement = select(
            Cryptocurrency.id,
            Cryptocurrency.coingecko_id,
            Cryptocurrency.symbol,
            Cryptocurrency.name,
        ).where(Cryptocurrency.coingecko_id.in_([i.lower() for i in coingecko_ids]))
        return [CoinBrief(*row) for row in self.session.execute(statement)]

    def search_condition(self, prefix: str) -> ColumnElement[bool]:
        """Name, symbol or CoinGecko id starts with `prefix`, case-insensitively."""
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

    def list_ordered(
        self,
        *,
        conditions: Sequence[ColumnElement[bool]],
        sort: str,
        page: PageParams,
    ) -> list[Cryptocurrency]:
        """A page of coins sorted by rank, name (case-insensitively) or symbol.

        `sort` may start with `-` for descending; coins without a value (unranked) come last
        in both directions, and the id breaks ties so pages never overlap.
        """
        descending = sort.startswith("-")
        column = _SORT_COLUMNS[sort.lstrip("-")]
        statement = (
            select(Cryptocurrency)
            .where(*conditions)
            .order_by(
                column.is_(None),
                column.desc() if descending else column.asc(),
                Cryptocurrency.id,
            )
            .limit(page.limit)
            .offset(page.offset)
        )
        return list(self.session.scalars(statement))

    def listings(
        self,
        *,
        order: CatalogueOrder,
        coingecko_ids: Sequence[str] | None = None,
        active: bool | None = True,
        where: Callable[[ColumnExpressionArgument[int]], ColumnElement[bool]] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[CoinListing]:
        """A page of lean listing rows in one statement, optionally only the given CoinGecko
        ids, and only coins whose id satisfies `where` (a condition another domain builds)."""
        statement = select(
            Cryptocurrency.id,
            Cryptocurrency.coingecko_id,
            Cryptocurrency.symbol,
            Cryptocurrency.name,
            Cryptocurrency.market_cap_rank,
            Cryptocurrency.image_url,
        )
        if coingecko_ids is not None:
            statement = statement.where(Cryptocurrency.coingecko_id.in_(list(coingecko_ids)))
        if active is not None:
            statement = statement.where(Cryptocurrency.is_active.is_(active))
        if where is not None:
            statement = statement.where(where(Cryptocurrency.id))
        rank = Cryptocurrency.market_cap_rank
        if order is CatalogueOrder.RANK:
            statement = statement.order_by(rank.is_(None), rank.asc(), Cryptocurrency.coingecko_id)
        elif order is CatalogueOrder.RANK_DESC:
            statement = statement.order_by(rank.is_(None), rank.desc(), Cryptocurrency.coingecko_id)
        elif order is CatalogueOrder.ID:
            statement = statement.order_by(Cryptocurrency.coingecko_id.asc())
        else:
            statement = statement.order_by(Cryptocurrency.coingecko_id.desc())
        if limit is not None:
            statement = statement.limit(limit)
        if offset:
            statement = statement.offset(offset)
        return [CoinListing(*row) for row in self.session.execute(statement)]


def active_coin_ids() -> Select[int]:
    """The ids of the active coins as a statement, for another domain's query to embed, so
    that query stays one statement without reading the catalogue table itself."""
    return select(Cryptocurrency.id).where(Cryptocurrency.is_active.is_(True))
