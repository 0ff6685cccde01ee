"""Who may call what, as one table over every operation in the OpenAPI document: each
operation reached anonymously, as another user and as a non-admin gets its documented
refusal, and no operation is left out of the table (a new route fails here until it is
added)."""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cryptopredict.main import create_app
from tests.factories import Factory


class Access(enum.Enum):
    """Who an operation answers."""

    PUBLIC = "anyone"
    USER = "any signed-in user"
    OWNER = "the signed-in owner of the addressed portfolio"
    ADMIN = "admins"


ANYONE, SIGNED_IN, OWNER, ADMIN = Access.PUBLIC, Access.USER, Access.OWNER, Access.ADMIN
CREDENTIAL_FROM_COOKIE = {("POST", "/api/v1/auth/session/refresh")}
"""Public operations whose credential is a cookie: without one they answer 401."""
PORTFOLIO = "/api/v1/portfolios/{portfolio_id}"
TRANSACTION = PORTFOLIO + "/transactions/{transaction_id}"

ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/health/live"): ANYONE,
    ("GET", "/health/ready"): ANYONE,
    ("GET", "/metrics"): ADMIN,
    ("POST", "/api/v1/auth/register"): ANYONE,
    ("POST", "/api/v1/auth/login"): ANYONE,
    ("POST", "/api/v1/auth/token"): ANYONE,
    ("POST", "/api/v1/auth/refresh"): ANYONE,
    ("POST", "/api/v1/auth/logout"): ANYONE,
    ("POST", "/api/v1/auth/session"): ANYONE,
    ("POST", "/api/v1/auth/session/refresh"): ANYONE,
    ("DELETE", "/api/v1/auth/session"): ANYONE,
    ("GET", "/api/v1/users/me"): SIGNED_IN,
    ("PATCH", "/api/v1/users/me"): SIGNED_IN,
    ("POST", "/api/v1/users/me/password"): SIGNED_IN,
    ("GET", "/api/v1/users"): ADMIN,
    ("GET", "/api/v1/users/{user_id}"): ADMIN,
    ("PATCH", "/api/v1/users/{user_id}"): ADMIN,
    ("DELETE", "/api/v1/users/{user_id}"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/deactivate"): ADMIN,
    ("POST", "/api/v1/users/{user_id}/activate"): ADMIN,
    ("GET", "/api/v1/coins"): ANYONE,
    ("POST", "/api/v1/coins"): ADMIN,
    ("GET", "/api/v1/coins/{coin}"): ANYONE,
    ("PATCH", "/api/v1/coins/{coin}"): ADMIN,
    ("DELETE", "/api/v1/coins/{coin}"): ADMIN,
    ("GET", "/api/v1/prices/latest"): ANYONE,
    ("GET", "/api/v1/prices/{coin}/history"): ANYONE,
    ("GET", "/api/v1/prices/{coin}/ohlc"): ANYONE,
    ("GET", "/api/v1/prices/{coin}/resampled"): ANYONE,
    ("GET", "/api/v1/prices/{coin}/stats"): ANYONE,
    ("GET", "/api/v1/prices/{coin}/gaps"): ANYONE,
    ("POST", "/api/v1/prices/bulk"): ADMIN,
    ("GET", "/api/v1/portfolios"): SIGNED_IN,
    ("POST", "/api/v1/portfolios"): SIGNED_IN,
    ("GET", PORTFOLIO): OWNER,
    ("PATCH", PORTFOLIO): OWNER,
    ("DELETE", PORTFOLIO): OWNER,
    ("GET", PORTFOLIO + "/holdings"): OWNER,
    ("GET", PORTFOLIO + "/summary"): OWNER,
    ("GET", PORTFOLIO + "/disposals"): OWNER,
    ("GET", PORTFOLIO + "/history"): OWNER,
    ("GET", PORTFOLIO + "/performance"): OWNER,
    ("GET", PORTFOLIO + "/forecast"): OWNER,
    ("POST", PORTFOLIO + "/import"): OWNER,
    ("GET", PORTFOLIO + "/export/transactions.csv"): OWNER,
    ("GET", PORTFOLIO + "/export/pnl.csv"): OWNER,
    ("GET", PORTFOLIO + "/transactions"): OWNER,
    ("POST", PORTFOLIO + "/transactions"): OWNER,
    ("GET", TRANSACTION): OWNER,
    ("PATCH", TRANSACTION): OWNER,
    ("DELETE", TRANSACTION): OWNER,
    ("POST", "/api/v1/sync/discover"): ADMIN,
    ("POST", "/api/v1/sync/prices"): ADMIN,
    ("POST", "/api/v1/sync/history"): ADMIN,
    ("GET", "/api/v1/sync/runs"): ADMIN,
    ("GET", "/api/v1/sync/runs/{run_id}"): ADMIN,
    ("GET", "/api/v1/sync/status"): ADMIN,
    ("GET", "/api/v1/sync/freshness"): ANYONE,
    ("POST", "/api/v1/forecasts/{coin}/train"): ADMIN,
    ("GET", "/api/v1/tasks"): ADMIN,
    ("POST", "/api/v1/tasks/{name}/run"): ADMIN,
    ("GET", "/api/v1/tasks/runs"): ADMIN,
    ("GET", "/api/v1/tasks/runs/{task_id}"): ADMIN,
    ("POST", "/api/v1/tasks/runs/{task_id}/revoke"): ADMIN,
    ("GET", "/api/v1/tasks/workers"): ADMIN,
    ("GET", "/api/v1/tasks/queues"): ADMIN,
    ("GET", "/api/v1/system/version"): ANYONE,
    ("GET", "/api/v1/system/stats"): ADMIN,
    ("GET", "/api/v1/forecasts/accuracy"): ANYONE,
    ("GET", "/api/v1/forecasts/{coin}"): ANYONE,
    ("GET", "/api/v1/forecasts/{coin}/history"): ANYONE,
    ("GET", "/api/v1/models"): ANYONE,
    ("GET", "/api/v1/models/{model_id}"): ANYONE,
    ("POST", "/api/v1/models/{model_id}/promote"): ADMIN,
    ("POST", "/api/v1/models/{model_id}/archive"): ADMIN,
    ("GET", "/api/v1/monitoring/events"): ANYONE,
    ("GET", "/api/v1/stream"): ANYONE,
    ("GET", "/api/v3/ping"): ANYONE,
    ("GET", "/api/v3/simple/supported_vs_currencies"): ANYONE,
    ("GET", "/api/v3/simple/price"): ANYONE,
    ("GET", "/api/v3/coins/list"): ANYONE,
    ("GET", "/api/v3/coins/markets"): ANYONE,
    ("GET", "/api/v3/coins/{coin}/market_chart"): ANYONE,
    ("GET", "/api/v3/coins/{coin}/market_chart/range"): ANYONE,
    ("GET", "/api/v3/coins/{coin}/ohlc"): ANYONE,
}
OPERATIONS = sorted(ACCESS)
REFUSALS = {
    Access.USER: {"anonymous": 401},
    Access.OWNER: {"anonymous": 401, "another user": 404},
    Access.ADMIN: {"anonymous": 401, "a non-admin": 403},
}
"""The status each kind of caller gets where it may not go."""
GUARDED = [(op, who) for op in OPERATIONS for who in REFUSALS.get(ACCESS[op], {})]


def _documented_operations() -> dict[tuple[str, str], dict[str, Any]]:
    document = create_app().openapi()
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


DOCUMENTED = _documented_operations()


def test_the_table_names_every_operation_once() -> None:
    assert sorted(DOCUMENTED) == OPERATIONS


@pytest.mark.parametrize(
    ("operation", "who"), GUARDED, ids=[f"{m} {p} as {w}" for (m, p), w in GUARDED]
)
def test_refusals_are_documented(operation: tuple[str, str], who: str) -> None:
    status = REFUSALS[ACCESS[operation]][who]
    assert str(status) in DOCUMENTED[operation]["responses"]


QUERIES = {("GET", "/api/v1/stream"): {"timeout": "0"}}
"""Parameters an operation needs to answer at all: the live stream ends only when asked."""


def _request(
    client: TestClient, operation: tuple[str, str], ids: dict[str, str], headers: dict[str, str]
) -> Any:
    method, template = operation
    path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
    # Credentials and ownership are checked before the body is read: no body is needed.
    body = {} if method in {"POST", "PATCH", "PUT"} else None
    params = QUERIES.get(operation)
    return client.request(method, path, json=body, headers=headers, params=params)


@pytest.fixture
def world(factory: Factory) -> dict[str, Any]:
    """An owner with a portfolio holding one transaction, another user, and a coin."""
    owner, other = factory.user(), factory.user()
    coin = factory.coin("bitcoin")
    owner_headers = factory.headers(owner)
    portfolio = factory.client.post(
        "/api/v1/portfolios", json={"name": "mine"}, headers=owner_headers
    ).json()
    transaction = factory.client.post(
        f"/api/v1/portfolios/{portfolio['id']}/transactions",
        json={
            "coin": coin.coingecko_id,
            "kind": "buy",
            "quantity": "1",
            "price": "100",
            "executed_at": dt.datetime(2024, 1, 2, tzinfo=dt.UTC).isoformat(),
        },
        headers=owner_headers,
    ).json()
    ids = {
        "portfolio_id": str(portfolio["id"]),
        "transaction_id": str(transaction["id"]),
        "user_id": str(owner.id),
        "coin": coin.coingecko_id,
        "run_id": "1",
        "model_id": "1",
        "task_id": "some-task",
        "name": "sync_prices",
    }
    callers = {
        "anonymous": {},
        "another user": factory.headers(other),
        "a non-admin": factory.headers(other),
    }
    return {"ids": ids, "callers": callers}


@pytest.mark.parametrize(
    ("operation", "who"), GUARDED, ids=[f"{m} {p} as {w}" for (m, p), w in GUARDED]
)
def test_each_guarded_operation_refuses_who_may_not_call_it(
    client: TestClient, world: dict[str, Any], operation: tuple[str, str], who: str
) -> None:
    response = _request(client, operation, world["ids"], world["callers"][who])

    assert response.status_code == REFUSALS[ACCESS[operation]][who], response.text
    assert set(response.json()) == {"error"}
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"


PUBLIC = [op for op in OPERATIONS if ACCESS[op] is Access.PUBLIC]


@pytest.mark.parametrize("operation", PUBLIC, ids=[f"{m} {p}" for m, p in PUBLIC])
def test_public_operations_answer_anonymous_callers(
    client: TestClient, world: dict[str, Any], operation: tuple[str, str]
) -> None:
    response = _request(client, operation, world["ids"], {})

    if operation in CREDENTIAL_FROM_COOKIE:  # its 401 judges the cookie sent, not the caller
        assert response.status_code == 401 and "log in first" in response.text
    else:
        assert response.status_code not in {401, 403}, response.text
    assert "401" not in DOCUMENTED[operation]["responses"] or operation[1].startswith(
        "/api/v1/auth/"
    )
