"""Migrations take an empty SQLite and an empty PostgreSQL database to head and back."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from cryptopredict.core import migrations
from cryptopredict.core.database import create_db_engine
from cryptopredict.models import METADATA
from tests.conftest import need_service

EXPECTED_TABLES = set(METADATA.tables)


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _round_trip(url: str) -> None:
    migrations.upgrade(url)
    assert _tables(url) == EXPECTED_TABLES
    migrations.downgrade(url, "base")
    assert _tables(url) == set()
    migrations.upgrade(url)
    assert _tables(url) == EXPECTED_TABLES


def test_sqlite_upgrade_downgrade_round_trip(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'empty.db'}")


def test_postgresql_upgrade_downgrade_round_trip() -> None:
    url = os.environ.get("CRYPTOPREDICT_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        need_service("postgresql", "CRYPTOPREDICT_TEST_DATABASE_URL is not a PostgreSQL URL")
    server = make_url(url)
    name = f"cp_migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _round_trip(server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_models_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, METADATA)
    assert differences == []
