"""Task fixtures: a database of their own (runs commit from worker threads, which the
rolled-back per-test transaction of the other tests could not see), emptied after each test;
a job context on it; task specs whose jobs live in `tests.tasks.sample_jobs`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

from cryptopredict.core import migrations
from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine
from cryptopredict.models import METADATA
from cryptopredict.tasks.jobs import JobContext
from cryptopredict.tasks.locks import TaskLocks
from tests.conftest import TEST_SECRET

API_KEY = "CG-test-secret-api-key-0123456789"


@pytest.fixture(scope="session")
def tasks_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for task tests: SQLite, or a fresh PostgreSQL database beside the
    configured test one (dropped at the end)."""
    configured = os.environ.get("CRYPTOPREDICT_TEST_DATABASE_URL", "")
    if not configured.startswith("postgresql"):
        url = f"sqlite:///{tmp_path_factory.mktemp('tasks-db') / 'tasks.db'}"
        migrations.upgrade(url)
        yield url
        return
    server = make_url(configured)
    name = f"{server.database}_tasks_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def tasks_engine(tasks_database_url: str) -> Iterator[Engine]:
    """One engine on the task database for the whole run."""
    engine = create_db_engine(tasks_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def tasks_database(tasks_engine: Engine) -> Iterator[Database]:
    """The task database, emptied after the test (its rows were really committed)."""
    yield Database(tasks_engine)
    with tasks_engine.begin() as connection:
        for table in reversed(METADATA.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def tasks_settings(tasks_database_url: str, tmp_path: Path) -> Settings:
    """Settings on the task database, with an API key that must never be stored."""
    return Settings(
        data_dir=tmp_path,
        database_url=tasks_database_url,
        secret_key=TEST_SECRET,
        redis_url=None,
        coingecko_api_key=API_KEY,
        scheduler="off",
    )


@pytest.fixture
def job_context(tasks_settings: Settings, tasks_database: Database) -> JobContext:
    """A job context on the task database with in-process locks and cache."""
    cache = MemoryCache()
    return JobContext(
        settings=tasks_settings,
        database=tasks_database,
        cache_source=lambda: cache,
        locks=TaskLocks(),
    )


# Celery tests (test_celery_*): their own redis-server, worker processes, the fake CoinGecko.
from tests.tasks.celery_support import (  # noqa: E402, F401 - fixtures, found by name
    celery_client,
    celery_fake_coingecko,
    processes,
    redis_server,
)
