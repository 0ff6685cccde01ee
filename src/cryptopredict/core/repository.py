"""A small typed generic repository; domain repositories extend it with their own queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from cryptopredict.core.database import Base
from cryptopredict.core.pagination import PageParams

ModelT = TypeVar("ModelT", bound=Base)


class Repository(Generic[ModelT]):
    """CRUD, filtering, sorting, counting and pagination for one mapped model."""

    model: type[ModelT]
    sortable: frozenset[str] = frozenset()

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self) -> postgresql.Insert | sqlite.Insert:
        """An INSERT of this model in the session's dialect, for `ON CONFLICT` clauses (the
        two dialects spell them alike but compile only their own)."""
        if self.session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(self.model)
        return sqlite.insert(self.model)

    def get(self, ident: Any) -> ModelT | None:
        """The row with this primary key, or None."""
        return self.session.get(self.model, ident)

    def _where(
        self,
        statement: Select[Any],
        filters: Mapping[str, Any] | None,
        conditions: Sequence[ColumnElement[bool]] = (),
    ) -> Select[Any]:
        for name, value in (filters or {}).items():
            statement = statement.where(self._column(name) == value)
        for condition in conditions:
            statement = statement.where(condition)
        return statement

    def _column(self, name: str) -> InstrumentedAttribute[Any]:
        column = getattr(self.model, name, None)
        if not isinstance(column, InstrumentedAttribute):
            raise ValueError(f"{self.model.__name__} has no column {name!r}")
        return column

    def list(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        conditions: Sequence[ColumnElement[bool]] = (),
        sort: str | None = None,
        page: PageParams | None = None,
    ) -> list[ModelT]:
        """Rows matching equality `filters` and extra `conditions`, sorted and paged.

        `sort` is a column name, prefixed with `-` for descending; the primary key breaks ties
        so pages never overlap.
        """
        statement = self._where(select(self.model), filters, conditions)
        if sort:
            descending = sort.startswith("-")
            column = self._column(sort.lstrip("-"))
            statement = statement.order_by(column.desc() if descending else column.asc())
        statement = statement.order_by(*self.model.__mapper__.primary_key)
        if page is not None:
            statement = statement.limit(page.limit).offset(page.offset)
        return list(self.session.scalars(statement))

    def count(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        conditions: Sequence[ColumnElement[bool]] = (),
    ) -> int:
        """How many rows match."""
        statement = self._where(select(func.count()).select_from(self.model), filters, conditions)
        return int(self.session.scalar(statement) or 0)

    def exists(self, **filters: Any) -> bool:
        """Whether any row matches the equality filters."""
        statement = self._where(select(self.model), filters).limit(1)
        return self.session.scalars(statement).first() is not None

    def create(self, **values: Any) -> ModelT:
        """Insert a row and flush so its generated keys are known."""
        instance = self.model(**values)
        self.session.add(instance)
        self.session.flush()
        return instance

    def update(self, instance: ModelT, **values: Any) -> ModelT:
        """Set attributes on a row and flush."""
        for name, value in values.items():
            self._column(name)
            setattr(instance, name, value)
        self.session.flush()
        return instance

    def delete(self, instance: ModelT) -> None:
        """Delete a row and flush."""
        self.session.delete(instance)
        self.session.flush()
