"""The mirror's refusals in CoinGecko's shape, and the OpenAPI document as their contract."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.core.database import create_db_engine, get_session
from cryptopredict.main import create_app
from tests.marketdata.conftest import T0

API = "/api/v3"
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("path", "params", "status", "body"),
    [
        ("/simple/price", {"vs_currencies": "usd"}, 422, "Missing parameter ids"),
        ("/simple/price", {"ids": "alpha"}, 422, "Missing parameter vs_currencies"),
        (
            "/simple/price",
            {"ids": "alpha", "vs_currencies": "usd", "precision": "x"},
            400,
            "invalid precision",
        ),
        (  # a digit to `str.isdigit`, not to `int`
            "/simple/price",
            {"ids": "alpha", "vs_currencies": "usd", "precision": "\u00b2"},
            400,
            "invalid precision",
        ),
        ("/coins/list", {"status": "gone"}, 400, "invalid status"),
        ("/coins/markets", {}, 422, "Missing parameter vs_currency"),
        ("/coins/markets", {"vs_currency": "eur"}, 400, "invalid vs_currency"),
        ("/coins/markets", {"vs_currency": "usd", "order": "price_desc"}, 400, "invalid order"),
        ("/coins/markets", {"vs_currency": "usd", "per_page": "many"}, 400, "invalid per_page"),
        ("/coins/alpha/market_chart", {"vs_currency": "usd"}, 422, "Missing parameter days"),
        ("/coins/alpha/market_chart", {"vs_currency": "usd", "days": "soon"}, 400, "invalid days"),
        ("/coins/alpha/market_chart", {"vs_currency": "usd", "days": "-1"}, 400, "invalid days"),
        (
            "/coins/alpha/market_chart",
            {"vs_currency": "gbp", "days": "1"},
            400,
            "invalid vs_currency",
        ),
        (
            "/coins/alpha/market_chart",
            {"vs_currency": "usd", "days": "1", "interval": "weekly"},
            400,
            "invalid interval",
        ),
        ("/coins/nope/market_chart", {"vs_currency": "usd", "days": "1"}, 404, "coin not found"),
        (
            "/coins/alpha/market_chart/range",
            {"vs_currency": "usd", "to": "1700000000"},
            422,
            "Missing parameter from",
        ),
        (
            "/coins/alpha/market_chart/range",
            {"vs_currency": "usd", "from": "x", "to": "1"},
            400,
            "invalid from",
        ),
        (
            "/coins/nope/market_chart/range",
            {"vs_currency": "usd", "from": "1", "to": "2"},
            404,
            "coin not found",
        ),
        ("/coins/alpha/ohlc", {"vs_currency": "usd", "days": "4"}, 400, "invalid days"),
        ("/coins/alpha/ohlc", {"vs_currency": "usd"}, 422, "Missing parameter days"),
        ("/coins/nope/ohlc", {"vs_currency": "usd", "days": "max"}, 404, "coin not found"),
    ],
)
def test_errors_have_coingecko_bodies(
    client: TestClient,
    market: dict[str, Cryptocurrency],
    path: str,
    params: dict[str, str],
    status: int,
    body: str,
) -> None:
    response = client.get(API + path, params=params)
    assert response.status_code == status
    assert response.json() == {"error": body}  # CoinGecko's shape, not {"error": {...}}


REQUIRED = {
    "/ping": set(),
    "/simple/supported_vs_currencies": set(),
    "/simple/price": {"ids", "vs_currencies"},
    "/coins/list": set(),
    "/coins/markets": {"vs_currency"},
    "/coins/{coin}/market_chart": {"coin", "vs_currency", "days"},
    "/coins/{coin}/market_chart/range": {"coin", "vs_currency", "from", "to"},
    "/coins/{coin}/ohlc": {"coin", "vs_currency", "days"},
}
VALID = {
    "coin": "alpha",
    "ids": "alpha",
    "vs_currencies": "usd",
    "vs_currency": "usd",
    "days": "1",
    "from": str(int(T0.timestamp())),
    "to": str(int((T0 + DAY).timestamp())),
}
UNREACHABLE_DATABASE = "sqlite:////nonexistent-directory/cryptopredict.db"


@pytest.fixture(scope="module")
def mirror_spec() -> dict[str, Any]:
    """The mirror's operations in the application's OpenAPI document, by path under /api/v3."""
    spec = create_app().openapi()
    return {
        path.removeprefix(API): {**item["get"], "components": spec["components"]}
        for path, item in spec["paths"].items()
        if path.startswith(API + "/")
    }


def documented_error(operation: dict[str, Any], status: int | str) -> dict[str, Any]:
    """The JSON schema the operation documents for an error status, resolved."""
    responses = operation["responses"]
    assert str(status) in responses, (operation["operationId"], status, sorted(responses))
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    return operation["components"]["schemas"][name]  # type: ignore[no-any-return]


def test_openapi_marks_what_the_mirror_requires(mirror_spec: dict[str, Any]) -> None:
    assert set(mirror_spec) == set(REQUIRED)
    for path, operation in mirror_spec.items():
        required = {p["name"] for p in operation.get("parameters", []) if p["required"]}
        assert required == REQUIRED[path], path
        for status in operation["responses"]:
            if status != "200":  # every error in CoinGecko's {"error": "..."} shape
                schema = documented_error(operation, status)
                assert schema["required"] == ["error"], (path, status)
                assert schema["properties"]["error"]["type"] == "string", (path, status)


def test_every_refusal_is_documented_in_coingecko_shape(
    client: TestClient, market: dict[str, Cryptocurrency], mirror_spec: dict[str, Any]
) -> None:
    """For each route: a missing required parameter (422), a refused value (400, a control
    character being refused on every route), an unknown coin (404) - each status sent is one
    the route documents, with CoinGecko's body."""
    for path, operation in mirror_spec.items():
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        params = {name: VALID[name] for name in REQUIRED[path] - {"coin"}}
        url = API + path.replace("{coin}", VALID["coin"])
        refusals: list[tuple[str, dict[str, str], int, str]] = [
            (url, {**params, "junk": "\x01"}, 400, "invalid junk")
        ]
        refusals += [
            (url, {k: v for k, v in params.items() if k != name}, 422, f"Missing parameter {name}")
            for name in sorted(params)
        ]
        refusals += [
            (url, {**params, name: " "}, 422, f"Missing parameter {name}") for name in params
        ]
        if "precision" in names:
            refusals.append((url, {**params, "precision": "19"}, 400, "invalid precision"))
        if "coin" in REQUIRED[path]:
            refusals.append((API + path.replace("{coin}", "nope"), params, 404, "coin not found"))
        assert client.get(url, params=params).status_code == 200, path
        for target, query, status, message in refusals:
            response = client.get(target, params=query)
            assert (response.status_code, response.json()) == (status, {"error": message}), (
                target,
                query,
            )
            documented_error(operation, status)


UNBOUNDED = {"from", "to"}  # bounds of market_chart/range are checked elsewhere
PATTERN_SAMPLES = {
    "ids": ["alpha", "alpha,beta,no-such-coin", ",".join(f"c{n}" for n in range(1_000))],
    "vs_currencies": ["usd", "usd,eur"],
    "category": ["layer-1", ""],
    "per_page": ["0", "1", "250", "999999999"],
    "page": ["0", "1", "999999999"],
    "price_change_percentage": ["1h", "24h,7d,1y"],
    "days": ["1", "1.5", "365", "36501", "max"],
}


def test_openapi_documents_the_values_each_parameter_accepts(
    client: TestClient, market: dict[str, Cryptocurrency], mirror_spec: dict[str, Any]
) -> None:
    """Each query parameter lists its values (enum) or their form (pattern), and every value
    so documented is accepted: a client or fuzzer generating from the schema gets answers,
    not refusals."""
    for path, operation in mirror_spec.items():
        url = API + path.replace("{coin}", VALID["coin"])
        required = {name: VALID[name] for name in REQUIRED[path] - {"coin"}}
        for parameter in operation.get("parameters", []):
            name, schema = parameter["name"], parameter["schema"]
            if parameter["in"] != "query" or name in UNBOUNDED:
                continue
            assert "enum" in schema or "pattern" in schema, (path, name)
            values = schema.get("enum") or PATTERN_SAMPLES[name]
            for value in values:
                if "pattern" in schema:
                    assert re.search(schema["pattern"], value), (path, name, value)
                response = client.get(url, params={**required, name: value})
                assert response.status_code == 200, (path, name, value, response.text)


def test_an_unreachable_database_is_a_documented_503(
    client: TestClient, mirror_spec: dict[str, Any]
) -> None:
    """Every mirror route that reads the database documents the 503 it answers when it can't
    (the body comes from the application's database error handler, `core.errors`)."""
    engine = create_db_engine(UNREACHABLE_DATABASE)

    def unreachable() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    client.app.dependency_overrides[get_session] = unreachable  # type: ignore[attr-defined]
    unavailable = set()
    for path, operation in mirror_spec.items():
        params = {name: VALID[name] for name in REQUIRED[path] - {"coin"}}
        response = client.get(API + path.replace("{coin}", VALID["coin"]), params=params)
        if response.status_code != 200:
            assert response.status_code == 503, (path, response.text)
            body = response.json()
            assert list(body) == ["error"] and isinstance(body["error"], str)  # CoinGecko's
            documented_error(operation, 503)
            unavailable.add(path)
    engine.dispose()

    # Only the two answers that need no stored data are given without the database.
    assert set(mirror_spec) - unavailable == {"/ping", "/simple/supported_vs_currencies"}
