"""The `cryptopredict` command, run for real against a throw-away SQLite database per test.

CLI commands commit, so they never touch the shared test database; the PostgreSQL write
path of the importer is covered in tests/prices_import against the rolled-back session.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from select import select as wait_readable
from typing import NamedTuple

import httpx
import orjson
import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Select, func, inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from cryptopredict.auth import service as auth_service
from cryptopredict.auth.models import Role, User
from cryptopredict.auth.schemas import UserCreate
from cryptopredict.cli.app import app
from cryptopredict.cli.common import mask_url
from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, create_db_engine
from cryptopredict.core.migrations import alembic_config
from cryptopredict.main import create_app
from cryptopredict.prices.models import PriceData
from tests.conftest import INTRADAY_PRICES, SNAPSHOT_PRICES, TEST_SECRET
from tests.serving import Served, serving

PRICES = SNAPSHOT_PRICES
PASSWORD = "correct-horse-battery"


@dataclass
class Cli:
    """Runs the command with its own database and data directory."""

    runner: CliRunner
    env: dict[str, str]
    url: str
    data_dir: Path

    def __call__(self, *args: str, input: str | None = None) -> Result:  # noqa: A002
        return self.runner.invoke(app, list(args), env=self.env, input=input)

    def engine(self) -> Engine:
        return create_db_engine(self.url)

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.url, secret_key=TEST_SECRET)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A CLI bound to a fresh SQLite file; logging is restored afterwards."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, level, alembic_level = list(root.handlers), root.level, alembic.level
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {
        "CRYPTOPREDICT_DATABASE_URL": url,
        "CRYPTOPREDICT_DATA_DIR": str(tmp_path / "data"),
        "CRYPTOPREDICT_SECRET_KEY": TEST_SECRET,
        "CRYPTOPREDICT_ENV": "development",
        "CRYPTOPREDICT_LOG_LEVEL": "INFO",
    }
    yield Cli(CliRunner(), env, url, tmp_path / "data")
    root.handlers[:] = handlers
    root.setLevel(level)
    alembic.setLevel(alembic_level)


def _scalar_count(engine: Engine, statement: Select[int]) -> int:
    with Session(engine) as session:
        return int(session.scalar(statement) or 0)


def _price_count(engine: Engine, coin: str, interval: str = "1d") -> int:
    return _scalar_count(
        engine,
        select(func.count())
        .select_from(PriceData)
        .join(Cryptocurrency)
        .where(Cryptocurrency.coingecko_id == coin, PriceData.interval == interval),
    )


def _user(engine: Engine, email: str) -> User | None:
    with Session(engine) as session:
        return session.scalars(select(User).where(User.email == email)).first()


# ---- import-prices ----------------------------------------------------------------------


def test_import_prices_reports_counts_and_reimport_writes_nothing(cli: Cli) -> None:
    first = cli("import-prices", str(PRICES / "bitcoin.csv"))

    assert first.exit_code == 0, first.output
    assert "bitcoin.csv" in first.stdout
    assert "Imported 1 of 1 file(s): 2991 rows read, 2991 written" in first.stdout
    assert "rows/s" in first.stdout
    engine = cli.engine()
    assert _price_count(engine, "bitcoin") == 2991
    with Session(engine) as session:
        close = session.scalar(
            select(PriceData.price).where(
                PriceData.price_at == dt.datetime(2017, 12, 17, tzinfo=dt.UTC)
            )
        )
    assert close == pytest.approx(19140.80, rel=1e-6)

    again = cli("import-prices", str(PRICES / "bitcoin.csv"), "--no-migrate")

    assert again.exit_code == 0, again.output
    assert "2991 rows read, 0 written" in again.stdout
    assert _price_count(engine, "bitcoin") == 2991
    engine.dispose()


def test_a_malformed_file_fails_alone_with_its_line(cli: Cli, tmp_path: Path) -> None:
    lines = (PRICES / "ripple.csv").read_text(encoding="utf-8").splitlines()[:20]
    lines[14] = "2013-08-18,0.01,0.02,0.01,-0.5,100,100"
    bad = tmp_path / "ripple.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = cli("import-prices", str(bad), str(PRICES / "cardano.csv"))

    assert result.exit_code == 1
    assert f"{bad}:15: close '-0.5' is not a positive price" in result.stderr
    assert "Imported 1 of 2 file(s): 1374 rows read, 1374 written" in result.stdout
    engine = cli.engine()
    assert _price_count(engine, "cardano") == 1374
    assert _scalar_count(engine, select(func.count()).select_from(PriceData)) == 1374
    engine.dispose()


def test_intraday_file_is_imported_as_hourly(cli: Cli) -> None:
    result = cli("import-prices", str(INTRADAY_PRICES / "bitcoin_1h.csv"))

    assert result.exit_code == 0, result.output
    assert "1h" in result.stdout
    engine = cli.engine()
    assert _price_count(engine, "bitcoin", "1h") == 3833
    assert _price_count(engine, "bitcoin", "1d") == 0
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one or more CSV files, or --snapshot"),
        (["--coin", "bitcoin", str(PRICES / "bitcoin.csv"), "--snapshot"], "single file"),
        (["--coin", "not a coin", str(PRICES / "bitcoin.csv")], "not a valid coin id"),
        (["missing.csv"], "does not exist"),
        (["--interval", "2h", str(PRICES / "bitcoin.csv")], "2h"),
    ],
)
def test_import_prices_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    result = cli("import-prices", *args)

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_coin_option_names_the_coin(cli: Cli, tmp_path: Path) -> None:
    lines = (PRICES / "dogecoin.csv").read_text(encoding="utf-8").splitlines()[:11]
    export = tmp_path / "export.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = cli("import-prices", str(export), "--coin", "dogecoin", "--batch-size", "3")

    assert result.exit_code == 0, result.output
    engine = cli.engine()
    assert _price_count(engine, "dogecoin") == 10
    with Session(engine) as session:
        coin = session.scalars(select(Cryptocurrency)).one()
    assert (coin.coingecko_id, coin.symbol, coin.name) == ("dogecoin", "doge", "Dogecoin")
    engine.dispose()


@pytest.mark.slow
def test_snapshot_gives_a_fresh_install_data(cli: Cli) -> None:
    result = cli("import-prices", "--snapshot")

    assert result.exit_code == 0, result.output
    assert "Imported 6 of 6 file(s): 15169 rows read, 15169 written" in result.stdout
    engine = cli.engine()
    for coin, rows in {"bitcoin": 2991, "ethereum": 2160, "dogecoin": 2760}.items():
        assert _price_count(engine, coin) == rows
    engine.dispose()


# ---- create-admin -----------------------------------------------------------------------


def test_create_admin_creates_an_admin_who_can_log_in(cli: Cli) -> None:
    result = cli(
        "create-admin", "--email", "Root@Example.com", "--password", PASSWORD, "--full-name", "Ro"
    )

    assert result.exit_code == 0, result.output
    assert "Created admin root@example.com" in result.stdout
    engine = cli.engine()
    application = create_app(cli.settings(), database=Database(engine))
    with TestClient(application) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": "root@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert (me.json()["role"], me.json()["full_name"]) == ("admin", "Ro")
    engine.dispose()


def test_create_admin_asks_for_the_password_hidden_and_twice(cli: Cli) -> None:
    result = cli("create-admin", "--email", "ops@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    engine = cli.engine()
    user = _user(engine, "ops@example.com")
    assert user is not None
    assert user.role == Role.ADMIN
    engine.dispose()


def test_create_admin_promotes_an_existing_user(cli: Cli) -> None:
    assert cli("db", "upgrade").exit_code == 0
    engine = cli.engine()
    with Session(engine) as session:
        created = auth_service.create(
            session=session, data=UserCreate(email="member@example.com", password=PASSWORD)
        )
        hashed = created.hashed_password

    result = cli("create-admin", "--email", "MEMBER@example.com")

    assert result.exit_code == 0, result.output
    assert "Promoted member@example.com" in result.stdout
    user = _user(engine, "member@example.com")
    assert user is not None
    assert (user.role, user.hashed_password) == (Role.ADMIN, hashed)
    again = cli("create-admin", "--email", "member@example.com")
    assert "already an admin" in again.stdout
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email", "--password", PASSWORD], "invalid email 'not-an-email'"),
        (["--email", "a@example.com", "--password", "short"], "at least 8 characters"),
    ],
)
def test_create_admin_refuses_bad_input(cli: Cli, args: list[str], message: str) -> None:
    result = cli("create-admin", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    engine = cli.engine()
    if inspect(engine).has_table("users"):
        assert _scalar_count(engine, select(func.count()).select_from(User)) == 0
    engine.dispose()


# ---- db ---------------------------------------------------------------------------------


def test_db_upgrade_downgrade_and_current(cli: Cli) -> None:
    assert "none (empty schema" in cli("db", "current").stdout

    upgraded = cli("db", "upgrade")

    assert upgraded.exit_code == 0, upgraded.output
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert f"Schema now at {head} (head)" in upgraded.stdout
    assert cli("db", "current").stdout.strip() == f"{head} (head)"
    engine = cli.engine()
    assert {"users", "cryptocurrencies", "price_data"} <= set(inspect(engine).get_table_names())

    downgraded = cli("db", "downgrade", "base")

    assert downgraded.exit_code == 0, downgraded.output
    assert "none (empty schema" in downgraded.stdout
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_db_errors_are_one_line_without_the_password(cli: Cli) -> None:
    bad_revision = cli("db", "upgrade", "nonexistent")
    assert bad_revision.exit_code == 1
    assert "Can't locate revision" in bad_revision.stderr

    stale = cli("db", "revision", "-m", "never written: the schema is not at head")
    assert stale.exit_code == 1
    assert "Target database is not up to date" in stale.stderr

    env = {**cli.env, "CRYPTOPREDICT_DATABASE_URL": "postgresql+psycopg://u:s3cret@127.0.0.1:9/x"}
    unreachable = cli.runner.invoke(app, ["db", "current"], env=env)
    assert unreachable.exit_code == 1
    assert "postgresql+psycopg://u:***@127.0.0.1:9/x" in unreachable.stderr
    assert "s3cret" not in unreachable.output


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("postgresql+psycopg://app:pa%40ss@db:5432/cp") == (
        "postgresql+psycopg://app:***@db:5432/cp"
    )
    assert mask_url("sqlite:////var/lib/cp.db") == "sqlite:////var/lib/cp.db"
    assert mask_url("not a url: secret") == "<unparsable database URL>"


# ---- serve ------------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    answered: dict[str, int] = {}
    with serving(tmp_path) as served:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(answered) < 2 and served.process.poll() is None:
            for path in ("/health/live", "/docs"):
                try:
                    response = httpx.get(f"{served.base}{path}", timeout=1)
                    answered[path] = response.status_code
                except httpx.TransportError:
                    time.sleep(0.2)
    text = served.log.read_text(encoding="utf-8", errors="replace")
    assert answered == {"/health/live": 200, "/docs": 200}, text
    assert (tmp_path / "cryptopredict.db").exists()
    assert "Running upgrade" in text
    assert TEST_SECRET not in text


def _serve_and_fail_logins(tmp_path: Path, extra_env: dict[str, str], attempts: int) -> list[int]:
    """Start `serve`, send `attempts` failed logins for distinct accounts, each claiming a
    different client address in X-Forwarded-For; the status codes in order."""
    tmp_path.mkdir()
    settings = {"CRYPTOPREDICT_SCHEDULER": "off", "CRYPTOPREDICT_LOGIN_IP_MAX_ATTEMPTS": "3"}
    with serving(tmp_path, settings | extra_env) as served:
        served.wait_until_live()
        return [
            httpx.post(
                f"{served.base}/api/v1/auth/login",
                json={"email": f"nobody{i}@example.com", "password": "wrong-password-1"},
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
                timeout=10,
            ).status_code
            for i in range(attempts)
        ]


@pytest.mark.slow
def test_forwarded_addresses_count_only_from_trusted_proxies(tmp_path: Path) -> None:
    untrusted = _serve_and_fail_logins(tmp_path / "untrusted", {}, attempts=4)
    trusted = _serve_and_fail_logins(
        tmp_path / "trusted", {"CRYPTOPREDICT_TRUSTED_PROXIES": "127.0.0.1"}, attempts=4
    )

    assert untrusted == [401, 401, 401, 429]  # one real address, whatever the header says
    assert trusted == [401, 401, 401, 401]  # four addresses, as the trusted proxy reports


class RawAnswer(NamedTuple):
    """What a server wrote back on a raw connection, and how much the client had sent."""

    responses: list[tuple[int, dict[str, str], bytes]]
    bytes_sent: int


def _raw_exchange(base: str, head: bytes, filler: int = 0) -> RawAnswer:
    """Send `head`, then up to `filler` bytes of one endless header value, stopping as soon
    as the server answers; the responses it wrote before closing the connection."""
    host, port = base.removeprefix("http://").split(":")
    received = bytearray()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head)
        sent = len(head)
        chunk = b"a" * 65536
        try:
            while sent < len(head) + filler and not wait_readable([connection], [], [], 0.002)[0]:
                connection.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while data := connection.recv(65536):
                received += data
        except (ConnectionResetError, TimeoutError):
            pass
    return RawAnswer(_parse_responses(bytes(received)), sent)


def _parse_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Status, headers and body of each response in a stream with Content-Length bodies."""
    responses = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        length = int(headers.get("content-length", "0"))
        responses.append((int(status_line.split()[1]), headers, data[:length]))
        data = data[length:]
    return responses


@pytest.fixture(scope="module")
def served_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `serve` for the tests of what its HTTP protocol refuses."""
    data_dir = tmp_path_factory.mktemp("served")
    with serving(data_dir, {"CRYPTOPREDICT_SCHEDULER": "off"}) as served:
        assert served.wait_until_live(), served.log.read_text(encoding="utf-8", errors="replace")
        yield served


@pytest.mark.slow
def test_serve_stops_reading_an_endless_header(served_api: Served) -> None:
    head = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Endless: "
    answer = _raw_exchange(served_api.base, head, filler=50 * 1024 * 1024)

    [(status, headers, body)] = answer.responses
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body)["error"]["code"] == "request_header_fields_too_large"
    assert answer.bytes_sent < 16 * 1024 * 1024  # answered long before the header ended


@pytest.mark.slow
def test_serve_refuses_many_headers_and_long_urls_in_the_paths_shape(served_api: Served) -> None:
    many = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 100) for i in range(200))
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    headers = _raw_exchange(served_api.base, request)
    url = b"/api/v1/coins?q=" + b"x" * 17000
    api = _raw_exchange(served_api.base, b"GET " + url + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    url = b"/api/v3/ping?q=" + b"x" * 17000
    mirror = _raw_exchange(served_api.base, b"GET " + url + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    [(status, _, body)] = headers.responses
    assert (status, orjson.loads(body)["error"]["code"]) == (431, "request_header_fields_too_large")
    [(status, _, body)] = api.responses
    assert (status, orjson.loads(body)["error"]["code"]) == (414, "uri_too_long")
    [(status, _, body)] = mirror.responses
    assert status == 414
    assert isinstance(orjson.loads(body)["error"], str)


@pytest.mark.slow
def test_serve_answers_malformed_http_in_json(served_api: Served) -> None:
    answer = _raw_exchange(served_api.base, b"NOT HTTP AT ALL\r\n\r\n")

    [(status, headers, body)] = answer.responses
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body)["error"]["code"] == "bad_request"


@pytest.mark.slow
def test_serve_answers_pipelined_requests_before_refusing_the_next(served_api: Served) -> None:
    fine = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    oversized = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    answer = _raw_exchange(served_api.base, fine + fine + oversized)

    assert [status for status, _, _ in answer.responses] == [200, 200, 431]
