"""Test fixtures: a migrated database (SQLite by default, PostgreSQL when configured), each
test inside a transaction rolled back at the end, and an app wired to that transaction.

Environment:
- CRYPTOPREDICT_TEST_DATABASE_URL: run against this database (e.g. PostgreSQL) instead of SQLite.
- CRYPTOPREDICT_TEST_REDIS_URL: enables the tests that need Redis.
- CRYPTOPREDICT_REQUIRE_SERVICES=1: a missing service fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from cryptopredict.auth.throttle import MemoryFailureCounter
from cryptopredict.core import migrations
from cryptopredict.core.cache import MemoryCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine, get_session
from cryptopredict.main import create_app
from cryptopredict.snapshot import PRICES_DIR
from tests.factories import Factory

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
"""Recorded CoinGecko responses and the hourly price file, which the package does not ship."""
SNAPSHOT_PRICES = PRICES_DIR
"""The daily price CSVs the package ships (the same files as shared/data/prices/*.csv)."""
INTRADAY_PRICES = SHARED_DATA / "prices" / "intraday"
TEST_SECRET = "test-secret-key-long-enough-for-hs256-and-hs512-0123456789abcdef"


FUZZ_FIXED_SEED = 20261206
FUZZ_SEEDS = (
    (int(os.environ["CRYPTOPREDICT_FUZZ_SEED"]),)
    if os.environ.get("CRYPTOPREDICT_FUZZ_SEED")
    else (FUZZ_FIXED_SEED, secrets.randbelow(2**31))
)
"""The seeds tests/contract/test_fuzzing.py runs with: a fixed one and one new each run,
or only the one named in CRYPTOPREDICT_FUZZ_SEED (to replay a failure)."""


def pytest_report_header() -> str:
    """Print the fuzzing seeds at the top of every run, so any failure can be replayed."""
    return "fuzz seeds: " + ", ".join(map(str, FUZZ_SEEDS))


def configured_database_url() -> str | None:
    """The PostgreSQL (or other) database the tests run on, if not the default SQLite."""
    return os.environ.get("CRYPTOPREDICT_TEST_DATABASE_URL") or None


def services_required() -> bool:
    """Whether CI demands that service-backed tests run rather than skip."""
    return os.environ.get("CRYPTOPREDICT_REQUIRE_SERVICES") == "1"


def need_service(name: str, reason: str) -> None:
    """Skip (or, when services are required, fail) a test whose service is missing."""
    message = f"{name} not available: {reason}"
    if services_required():
        pytest.fail(message + " (CRYPTOPREDICT_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database under test, migrated to head once per session."""
    url = configured_database_url()
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """One engine for the whole run."""
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session whose commits become savepoints inside a transaction rolled back after."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    """Settings for an app under test."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("app-data"),
        database_url=database_url,
        secret_key=TEST_SECRET,
        redis_url=None,
    )


@pytest.fixture(scope="session")
def app_database(engine: Engine) -> Database:
    """The app's Database object, sharing the session-wide engine."""
    return Database(engine)


@pytest.fixture(scope="session")
def shared_app(settings: Settings, app_database: Database) -> FastAPI:
    """One application for the whole run: building one costs about a quarter of a second,
    which would otherwise dominate short HTTP tests."""
    return create_app(settings, database=app_database)


@pytest.fixture
def client(shared_app: FastAPI, db_session: Session) -> Iterator[TestClient]:
    """An HTTP client whose requests all use the test's rolled-back transaction, with fresh
    login throttling and response cache so no test inherits another's state."""
    shared_app.dependency_overrides[get_session] = lambda: db_session
    shared_app.state.login_throttle = MemoryFailureCounter()
    shared_app.state.cache = MemoryCache()
    try:
        yield TestClient(shared_app)
    finally:
        shared_app.dependency_overrides.clear()


@pytest.fixture
def factory(db_session: Session, client: TestClient) -> Factory:
    """Builds rows and signed-in users for a test."""
    return Factory(db_session, client)


@pytest.fixture
def redis_url() -> str:
    """The test Redis (CRYPTOPREDICT_TEST_REDIS_URL), or skip/fail as services dictate."""
    return answering_test_redis()


def answering_test_redis() -> str:
    """The test Redis's URL once it answers; skips or fails (as services dictate) otherwise."""
    url = os.environ.get("CRYPTOPREDICT_TEST_REDIS_URL")
    if not url:
        need_service("redis", "set CRYPTOPREDICT_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379/15")
        raise AssertionError("unreachable")  # need_service skips or fails
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        need_service("redis", f"{url} does not answer: {exc}")
    return url
