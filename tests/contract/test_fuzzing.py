"""Property-based fuzzing of every operation in the OpenAPI document over real HTTP, with
schemathesis: every check and phase on (stateful included), as a user and as an admin,
with a fixed seed and a seed chosen afresh each run (printed in the report header; set
CRYPTOPREDICT_FUZZ_SEED to replay one). Zero failures is the bar.

The server is `cryptopredict serve` on its own database (PostgreSQL when the tests run on
it, else SQLite), holding the bundled daily prices, an admin and a user."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from tests.conftest import FUZZ_SEEDS, configured_database_url
from tests.serving import server_env, serving

CONFIG = Path(__file__).with_name("schemathesis.toml")
ADMIN = ("fuzz-admin@example.com", "admin-password-1")
USER = ("fuzz-user@example.com", "user-password-1")
FILLER_ACCOUNTS = 3
"""Accounts made before the two under test, so the fuzzer's boundary ids (1, 2, ...)
address somebody else: an admin may delete or demote other users, not itself."""
SERVER_SETTINGS = {
    "CRYPTOPREDICT_SCHEDULER": "off",
    # The fuzzer registers and logs in far more often than a person: with the default limits
    # nearly every case of those operations would be a 429 (tests/auth holds the limits).
    "CRYPTOPREDICT_REGISTER_MAX_ATTEMPTS": "100000",
    "CRYPTOPREDICT_LOGIN_MAX_ATTEMPTS": "100000",
    "CRYPTOPREDICT_LOGIN_IP_MAX_ATTEMPTS": "100000",
    "CRYPTOPREDICT_LOGIN_ACCOUNT_MAX_ATTEMPTS": "100000",
    "CRYPTOPREDICT_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",  # nothing listens
    # The train trigger queues real training in the server's child process: naive alone
    # trains a coin in a fraction of a second, so the fuzzer's triggers cost the run nothing.
    "CRYPTOPREDICT_TRAINING_MODELS": "naive",
}


class FuzzTarget(NamedTuple):
    """The running server and an access token per role."""

    base: str
    tokens: dict[str, str]
    log: Path


def _fresh_database(data_dir: Path) -> str:
    """A database of its own: `<test db>_fuzz` on the test PostgreSQL, else SQLite."""
    url = configured_database_url()
    if url is None:
        return f"sqlite:///{data_dir / 'fuzz.db'}"
    parsed = make_url(url)
    name = f"{parsed.database}_fuzz"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "cryptopredict.cli", *args], env=env, check=True, timeout=300
    )


def _login(base: str, account: tuple[str, str]) -> str:
    email, password = account
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    settings = SERVER_SETTINGS | {"CRYPTOPREDICT_DATABASE_URL": _fresh_database(data_dir)}
    env = server_env(data_dir, settings)
    _cli(env, "db", "upgrade")
    _cli(env, "import-prices", "--snapshot")
    with serving(data_dir, settings) as served:
        assert served.wait_until_live(), served.log.read_text(errors="replace")
        for n in range(FILLER_ACCOUNTS):
            httpx.post(
                f"{served.base}/api/v1/auth/register",
                json={"email": f"filler{n}@example.com", "password": "filler-password-1"},
                timeout=30,
            ).raise_for_status()
        _cli(env | {"CRYPTOPREDICT_ADMIN_PASSWORD": ADMIN[1]}, "create-admin", "--email", ADMIN[0])
        httpx.post(
            f"{served.base}/api/v1/auth/register",
            json={"email": USER[0], "password": USER[1]},
            timeout=30,
        ).raise_for_status()
        tokens = {"user": _login(served.base, USER), "admin": _login(served.base, ADMIN)}
        yield FuzzTarget(served.base, tokens, served.log)


# Users before admins: an admin's run may deactivate or delete the user under test.
RUNS = [(role, seed) for role in ("user", "admin") for seed in FUZZ_SEEDS]


@pytest.mark.slow
@pytest.mark.parametrize(("role", "seed"), RUNS, ids=[f"{r}-seed{s}" for r, s in RUNS])
def test_no_operation_fails_any_check(fuzz_target: FuzzTarget, role: str, seed: int) -> None:
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(CONFIG), "--no-color",
        "run", f"{fuzz_target.base}/openapi.json",
        "--header", f"Authorization: Bearer {fuzz_target.tokens[role]}",
        "--seed", str(seed),
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603 - the schemathesis CLI from our venv
        command, capture_output=True, text=True, timeout=900, check=False
    )
    server_log = fuzz_target.log.read_text(errors="replace")
    assert result.returncode == 0, (
        f"schemathesis found failures as {role} with seed {seed} "
        f"(replay: CRYPTOPREDICT_FUZZ_SEED={seed}):\n{result.stdout[-20000:]}\n"
        f"{result.stderr[-3000:]}\n--- server log (tail) ---\n{server_log[-5000:]}"
    )
    assert "Traceback" not in server_log, server_log[-5000:]
