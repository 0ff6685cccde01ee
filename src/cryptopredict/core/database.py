"""Engine, declarative base, column types and the per-request session."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    Numeric,
    String,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from cryptopredict.core.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Wide enough for NUMERIC(38, 18): the default 28-digit context would round stored values.
_WIDE = Context(prec=100)
_DECIMAL_CONTEXT = Context(prec=38)

# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids fall back to INTEGER there.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    """The current instant, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores instants in UTC and always hands back timezone-aware values (SQLite drops tz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Normalise to UTC; naive values are refused so local time never sneaks in."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: dt.datetime | None,
        dialect: Dialect,
    ) -> dt.datetime | None:
        """Re-attach UTC to values the driver returned naive."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """Exact decimals: NUMERIC on PostgreSQL, text on SQLite (which has no decimal type)."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the storage type per dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(38, 18))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Write SQLite values as canonical decimal strings."""
        if value is None:
            return None
        if dialect.name == "sqlite":
            return format(Decimal(value), "f")
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Always hand back a Decimal, normalised to drop trailing zeros."""
        if value is None:
            return None
        number = Decimal(str(value))
        if number == number.to_integral():
            return number.quantize(Decimal(1), context=_DECIMAL_CONTEXT)
        return number.normalize(_DECIMAL_CONTEXT)


class WideDecimal(ExactDecimal):
    """Computed amounts (sums and products of stored ones, up to 58 digits with 18 places):
    NUMERIC without a bound on PostgreSQL, text on SQLite."""

    impl = Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick the storage type per dialect."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(100))
        return dialect.type_descriptor(Numeric())

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """A Decimal, normalised in a context wide enough for every digit."""
        if value is None:
            return None
        number = Decimal(str(value))
        return (
            number.quantize(Decimal(1), context=_WIDE)
            if number == number.to_integral(context=_WIDE)
            else number.normalize(_WIDE)
        )


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), Decimal: ExactDecimal()}


def _configure_sqlite(engine: Engine) -> None:
    """Turn on foreign keys and WAL, and let SQLAlchemy (not pysqlite) issue BEGIN, so
    transactions and savepoints behave as on PostgreSQL."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Build an engine tuned for the dialect behind `url`."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, echo=echo, pool_size=20, max_overflow=20, pool_pre_ping=True, pool_recycle=1800
    )


class Database:
    """Owns the engine and session factory for one application instance."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session_factory = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """A database for the configured URL."""
        return cls(create_db_engine(settings.resolved_database_url))

    def session(self) -> Iterator[Session]:
        """One session per request, rolled back on error and always closed."""
        session = self.session_factory()
        try:
            yield session
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """FastAPI dependency: a session from the application's database.

    Opening a session does no I/O (it connects on first use), so this runs on the event loop
    and only a session that really touched the database is closed in a worker thread.
    """
    database: Database = request.app.state.database
    session = database.session_factory()
    try:
        yield session
    finally:
        if session.get_transaction() is None:
            session.close()
        else:
            await run_in_threadpool(session.close)
