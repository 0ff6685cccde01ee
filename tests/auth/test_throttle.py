"""Failed logins are limited per account and address together, with ceilings per account and on
the accounts one address fails on, in memory and shared through Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cryptopredict.auth import service
from cryptopredict.auth.throttle import FailureCounter, MemoryFailureCounter, RedisFailureCounter
from cryptopredict.core.config import Settings
from cryptopredict.core.database import Database, get_session
from cryptopredict.core.errors import AuthenticationError, RateLimitedError
from cryptopredict.core.redis import connect_redis
from cryptopredict.main import create_app
from tests.factories import DEFAULT_PASSWORD, Factory


def _attempt(client: TestClient, email: str, password: str) -> int:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


def test_account_is_locked_after_max_failures(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    limit = client.app.state.settings.login_max_attempts  # type: ignore[attr-defined]
    for _ in range(limit):
        assert _attempt(client, user.email, "wrong-password") == 401
    blocked = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert blocked.json()["error"]["details"]["retry_after"] >= 1


def test_success_resets_the_account_counter(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    limit = client.app.state.settings.login_max_attempts  # type: ignore[attr-defined]
    for _ in range(limit - 1):
        _attempt(client, user.email, "wrong-password")
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 200
    for _ in range(limit - 1):
        assert _attempt(client, user.email, "wrong-password") == 401
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 200


def test_ip_is_limited_across_accounts(client: TestClient, factory: Factory) -> None:
    ip_limit = client.app.state.settings.login_ip_max_attempts  # type: ignore[attr-defined]
    for i in range(ip_limit):
        assert _attempt(client, f"nobody{i}@example.com", "wrong-password") == 401
    user = factory.user()
    assert _attempt(client, user.email, DEFAULT_PASSWORD) == 429


def test_memory_counter_window_expires() -> None:
    now = [1000.0]
    counter = MemoryFailureCounter(clock=lambda: now[0])
    for _ in range(3):
        counter.record_failure("k", window_seconds=60)
    assert counter.blocked_for("k", limit=3) == 60
    now[0] += 59.5
    assert counter.blocked_for("k", limit=3) == 1
    now[0] += 1
    assert counter.blocked_for("k", limit=3) == 0


def test_redis_counter_is_shared_between_app_instances(
    redis_url: str, settings: Settings, app_database: Database, db_session: Session
) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    email = f"shared-{uuid.uuid4().hex}@example.com"
    apps = [create_app(shared, database=app_database) for _ in range(2)]
    for app in apps:
        app.dependency_overrides[get_session] = lambda: db_session
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        for i in range(shared.login_max_attempts):
            client = first if i % 2 == 0 else second
            assert _attempt(client, email, "wrong-password") == 401
        assert _attempt(first, email, "wrong-password") == 429
        assert _attempt(second, email, "wrong-password") == 429
    keys = redis.Redis.from_url(redis_url)
    keys.delete(*keys.scan_iter(f"cryptopredict:login:*{email}*"))


def test_redis_counter_falls_back_to_memory_when_redis_is_down() -> None:
    dead = connect_redis("redis://127.0.0.1:1/0")
    assert dead is not None
    counter = RedisFailureCounter(dead)
    for _ in range(2):
        counter.record_failure("k", window_seconds=60)
    assert counter.blocked_for("k", limit=2) > 0
    counter.reset("k")
    assert counter.blocked_for("k", limit=2) == 0


def test_the_owners_password_from_another_address_gets_through(
    client: TestClient, factory: Factory
) -> None:
    user = factory.user()
    attacker = TestClient(client.app, client=("198.51.100.7", 40000))
    owner = TestClient(client.app, client=("203.0.113.9", 40000))
    limit = client.app.state.settings.login_max_attempts  # type: ignore[attr-defined]
    for _ in range(limit):
        assert _attempt(attacker, user.email, "wrong-password") == 401

    assert _attempt(attacker, user.email, DEFAULT_PASSWORD) == 429
    assert _attempt(owner, user.email, DEFAULT_PASSWORD) == 200


def _login(
    db_session: Session, settings: Settings, counter: FailureCounter, email: str, **kw: str
) -> None:
    service.login(
        session=db_session,
        settings=settings,
        throttle=counter,
        email=email,
        password=kw.get("password", "wrong-password"),
        client_ip=kw.get("ip", "198.51.100.7"),
    )


def test_repeated_failures_from_one_address_wait_twice_as_long_each_time(
    db_session: Session, settings: Settings, factory: Factory
) -> None:
    user = factory.user()
    now = [1000.0]
    counter = MemoryFailureCounter(clock=lambda: now[0])
    for _ in range(settings.login_max_attempts):
        with pytest.raises(AuthenticationError):
            _login(db_session, settings, counter, user.email)
    waits = []
    for _ in range(4):
        with pytest.raises(RateLimitedError) as held:
            _login(db_session, settings, counter, user.email, password=DEFAULT_PASSWORD)
        waits.append(held.value.details["retry_after"])
        now[0] += waits[-1]
        with pytest.raises(AuthenticationError):  # the hold is over: one more guess, then wait
            _login(db_session, settings, counter, user.email)

    assert waits == [2, 4, 8, 16]
    now[0] += 32  # the last guess earned the next doubling
    _login(db_session, settings, counter, user.email, password=DEFAULT_PASSWORD)


def test_guessing_spread_over_many_addresses_meets_the_account_ceiling(
    db_session: Session, settings: Settings, factory: Factory
) -> None:
    user = factory.user()
    ceiling = settings.model_copy(update={"login_account_max_attempts": 6})
    counter = MemoryFailureCounter()
    for i in range(6):
        with pytest.raises(AuthenticationError):
            _login(db_session, ceiling, counter, user.email, ip=f"198.51.100.{i}")

    with pytest.raises(RateLimitedError):
        _login(db_session, ceiling, counter, user.email, password=DEFAULT_PASSWORD, ip="192.0.2.1")


@pytest.fixture(params=["memory", "redis"])
def counter(request: pytest.FixtureRequest) -> Iterator[FailureCounter]:
    """A fresh failure counter of each kind; the Redis one under a prefix of its own."""
    if request.param == "memory":
        yield MemoryFailureCounter()
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    prefix = f"cryptopredict:test:{uuid.uuid4().hex}:"
    yield RedisFailureCounter(client, prefix)
    stale = list(client.scan_iter(prefix + "*"))
    if stale:
        client.delete(*stale)


NAT = "203.0.113.50"


def test_failures_on_a_few_accounts_behind_a_shared_address_lock_out_no_one_else(
    db_session: Session, settings: Settings, factory: Factory, counter: FailureCounter
) -> None:
    limits = settings.model_copy(update={"login_max_attempts": 5, "login_ip_max_attempts": 20})
    mistyping, owner = [factory.user() for _ in range(4)], factory.user()
    for user in mistyping:  # 4 x 5 = 20 failures from the address, on 4 accounts
        for _ in range(5):
            with pytest.raises(AuthenticationError):
                _login(db_session, limits, counter, user.email, ip=NAT)

    _login(db_session, limits, counter, owner.email, password=DEFAULT_PASSWORD, ip=NAT)


def test_an_address_past_its_account_ceiling_may_only_retry_accounts_it_already_failed(
    db_session: Session, settings: Settings, factory: Factory, counter: FailureCounter
) -> None:
    limits = settings.model_copy(update={"login_ip_max_attempts": 3})
    tried, untried = [factory.user() for _ in range(3)], factory.user()
    for user in tried:
        with pytest.raises(AuthenticationError):
            _login(db_session, limits, counter, user.email, ip=NAT)

    with pytest.raises(RateLimitedError) as refused:
        _login(db_session, limits, counter, untried.email, password=DEFAULT_PASSWORD, ip=NAT)
    assert refused.value.details["retry_after"] >= 1
    _login(db_session, limits, counter, tried[0].email, password=DEFAULT_PASSWORD, ip=NAT)
    _login(db_session, limits, counter, untried.email, password=DEFAULT_PASSWORD, ip="192.0.2.1")


def test_the_owner_is_never_locked_out_of_an_address_they_signed_in_from(
    db_session: Session, settings: Settings, factory: Factory
) -> None:
    user = factory.user()
    ceiling = settings.model_copy(update={"login_account_max_attempts": 6})
    counter = MemoryFailureCounter()
    _login(db_session, ceiling, counter, user.email, password=DEFAULT_PASSWORD, ip="192.0.2.1")
    for i in range(6):  # guessing spread over six addresses reaches the account's ceiling
        with pytest.raises(AuthenticationError):
            _login(db_session, ceiling, counter, user.email, ip=f"198.51.100.{i}")

    with pytest.raises(RateLimitedError):  # a new address is held to the ceiling
        _login(db_session, ceiling, counter, user.email, password=DEFAULT_PASSWORD, ip="192.0.2.9")
    _login(db_session, ceiling, counter, user.email, password=DEFAULT_PASSWORD, ip="192.0.2.1")


def test_a_parallel_burst_of_guesses_gets_no_more_checks_than_a_sequence(
    engine: Engine, settings: Settings
) -> None:
    counter = MemoryFailureCounter()
    burst = 16
    start = threading.Barrier(burst)

    def guess() -> str:
        with Session(engine) as session:
            start.wait()
            try:
                _login(session, settings, counter, "nobody-here@example.com")
            except AuthenticationError:
                return "checked"
            except RateLimitedError:
                return "held"
        return "signed in"

    with ThreadPoolExecutor(burst) as pool:
        outcomes = list(pool.map(lambda _: guess(), range(burst)))

    assert outcomes.count("signed in") == 0
    # Every attempt is counted before the password check: after the free ones, a burst waits.
    assert outcomes.count("checked") <= settings.login_max_attempts + 1, outcomes


def test_the_memory_counter_forgets_expired_keys_it_is_never_asked_about() -> None:
    now = [0.0]
    counter = MemoryFailureCounter(clock=lambda: now[0])
    for n in range(5000):  # guesses at made-up accounts, each key written once
        counter.record_failure(f"pair:nobody{n}@example.com|198.51.100.7", 60)
        counter.hold(f"pair:nobody{n}@example.com|198.51.100.7", 60)
        now[0] += 0.1  # the run lasts 500 s; each key expires 60 s after its write

    assert len(counter) < 2 * (600 + 2 * 1024)
