"""Bad input never reaches a 500: control characters in paths, queries and bodies, and
integers beyond what the id columns hold, are refused at the edge in the right error shape
(the one JSON shape under /api/v1, CoinGecko's under /api/v3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Factory

V1 = "/api/v1"
V3 = "/api/v3"
INT64_MAX = 2**63 - 1
BEYOND_INT64 = 2**63


@pytest.fixture
def http(client: TestClient) -> TestClient:
    """A client that answers a server error as a 500 response instead of raising it. Its
    lifespan is not run: the app's shutdown disposes the engine the tests share, orphaning
    the test's open connection, which on PostgreSQL piles up towards `max_connections`."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.fixture
def admin_headers(factory: Factory) -> dict[str, str]:
    """Authorization headers of a signed-in admin."""
    return factory.headers(factory.admin())


@pytest.fixture
def user_headers(factory: Factory) -> dict[str, str]:
    """Authorization headers of a signed-in user."""
    return factory.headers(factory.user())


def assert_refused(response: Any, *, status: int = 422, loc: list[Any] | None = None) -> None:
    """Refused in the /api/v1 error shape with a validation error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "validation_error"
    assert isinstance(body["error"]["message"], str)
    if loc is not None:
        assert [entry["loc"] for entry in body["error"]["details"]] == [loc]


def assert_coingecko_refused(response: Any) -> None:
    """Refused in CoinGecko's `{"error": "..."}` shape with a client error."""
    assert response.status_code in (400, 404, 422), response.text
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)


# ---- control characters --------------------------------------------------------------

ANONYMOUS_URLS = [
    pytest.param(f"{V1}/coins/bit%00coin", ["path"], id="coin-path"),
    pytest.param(f"{V1}/prices/bit%00coin/history", ["path"], id="prices-path"),
    pytest.param(f"{V1}/prices/bit%1Fcoin/stats", ["path"], id="prices-path-unit-separator"),
    pytest.param(f"{V1}/coins?q=a%00b", ["query", "q"], id="coin-search"),
    pytest.param(f"{V1}/coins?q=a%7Fb", ["query", "q"], id="coin-search-delete"),
    pytest.param(f"{V1}/coins?a%00=1", ["query"], id="query-name"),
    pytest.param(f"{V1}/prices/latest?coins=bit%00coin", ["query", "coins"], id="latest"),
]


@pytest.mark.parametrize(("url", "loc"), ANONYMOUS_URLS)
def test_control_characters_in_urls_are_refused(http: TestClient, url: str, loc: list[str]) -> None:
    assert_refused(http.get(url), loc=loc)


def test_a_control_character_in_an_admin_path_is_refused(
    http: TestClient, admin_headers: dict[str, str]
) -> None:
    assert_refused(http.get(f"{V1}/tasks/runs/a%00b", headers=admin_headers), loc=["path"])


def test_tab_in_a_search_term_is_refused_too(http: TestClient) -> None:
    # No identifier or search term holds a C0 control, so URLs refuse them all.
    assert_refused(http.get(f"{V1}/coins?q=a%09b"), loc=["query", "q"])


def test_escaped_percent_signs_are_not_control_characters(http: TestClient) -> None:
    assert http.get(f"{V1}/coins?q=a%2500b").status_code == 200


MIRROR_URLS = [
    pytest.param(f"{V3}/simple/price?ids=a%00b&vs_currencies=usd", id="simple-price-ids"),
    pytest.param(f"{V3}/simple/price?ids=bitcoin&vs_currencies=us%00d", id="simple-price-vs"),
    pytest.param(f"{V3}/coins/markets?vs_currency=usd&ids=a%00b", id="markets-ids"),
    pytest.param(f"{V3}/coins/markets?vs_currency=usd&category=a%00b", id="markets-category"),
    pytest.param(f"{V3}/coins/bit%00coin/market_chart?vs_currency=usd&days=1", id="chart"),
    pytest.param(f"{V3}/coins/bit%00coin/ohlc?vs_currency=usd&days=1", id="ohlc"),
]


@pytest.mark.parametrize("url", MIRROR_URLS)
def test_control_characters_in_mirror_urls_get_coingecko_errors(http: TestClient, url: str) -> None:
    assert_coingecko_refused(http.get(url))


def test_a_control_character_never_reaches_the_mirror_cache(http: TestClient) -> None:
    url = f"{V3}/simple/price?ids=a%00b&vs_currencies=usd"
    for _ in range(2):
        response = http.get(url)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid ids"}


ANONYMOUS_BODIES = [
    pytest.param(
        f"{V1}/auth/login",
        {"email": "a\x00b@example.com", "password": "secret"},
        ["body", "email"],
        id="login-email",
    ),
    pytest.param(
        f"{V1}/auth/login",
        {"email": "a@example.com", "password": "sec\x00ret"},
        ["body", "password"],
        id="login-password",
    ),
    pytest.param(
        f"{V1}/auth/register",
        {"email": "new@example.com", "password": "long enough \x00 password"},
        ["body", "password"],
        id="register-password",
    ),
    pytest.param(
        f"{V1}/auth/register",
        {"email": "new@example.com", "password": "long-enough-password", "full_name": "A\x00"},
        ["body", "full_name"],
        id="register-name",
    ),
    pytest.param(
        f"{V1}/auth/register",
        {"email": "new@example.com", "password": "long-enough-password", "full_name": "A\x07"},
        ["body", "full_name"],
        id="register-bell",
    ),
    pytest.param(
        f"{V1}/auth/refresh", {"refresh_token": "x\x00y"}, ["body", "refresh_token"], id="refresh"
    ),
    pytest.param(
        f"{V1}/auth/register",
        b'{"email": "new@example.com", "password": "long-enough-password", "full_name": "\\ud800"}',
        ["body", "full_name"],
        id="register-lone-surrogate",
    ),
]


@pytest.mark.parametrize(("url", "body", "loc"), ANONYMOUS_BODIES)
def test_control_characters_in_json_bodies_are_refused(
    http: TestClient, url: str, body: dict[str, Any] | bytes, loc: list[str]
) -> None:
    if isinstance(body, bytes):  # JSON that httpx cannot encode from a str
        headers = {"content-type": "application/json"}
        assert_refused(http.post(url, content=body, headers=headers), loc=loc)
    else:
        assert_refused(http.post(url, json=body), loc=loc)


def test_nested_control_characters_are_found(
    http: TestClient, admin_headers: dict[str, str]
) -> None:
    body = {"points": [{"coin": "bitcoin"}, {"coin": "x\x00"}]}
    response = http.post(f"{V1}/prices/bulk", json=body, headers=admin_headers)
    assert_refused(response, loc=["body", "points", 1, "coin"])


def test_a_control_character_in_a_portfolio_name_is_refused(
    http: TestClient, user_headers: dict[str, str]
) -> None:
    response = http.post(f"{V1}/portfolios", json={"name": "a\x00b"}, headers=user_headers)
    assert_refused(response, loc=["body", "name"])


def test_free_text_keeps_tabs_and_newlines(http: TestClient, user_headers: dict[str, str]) -> None:
    body = {"name": "Long term", "description": "line one\r\n\tline two"}
    response = http.post(f"{V1}/portfolios", json=body, headers=user_headers)
    assert response.status_code == 201, response.text
    assert response.json()["description"] == body["description"]


def test_an_escaped_backslash_before_u0000_is_text(
    http: TestClient, user_headers: dict[str, str]
) -> None:
    response = http.post(f"{V1}/portfolios", json={"name": "a\\u0000b"}, headers=user_headers)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "a\\u0000b"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"username": "a\x00b@example.com", "password": "secret"}, id="username"),
        pytest.param({"username": "a@example.com", "password": "se\x00cret"}, id="password"),
    ],
)
def test_control_characters_in_the_oauth2_form_are_refused(
    http: TestClient, form: dict[str, str]
) -> None:
    name = next(key for key, value in form.items() if "\x00" in value)
    assert_refused(http.post(f"{V1}/auth/token", data=form), loc=["body", name])


def test_control_characters_in_a_multipart_form_are_refused(http: TestClient) -> None:
    files = {"username": (None, "a\x00b@example.com"), "password": (None, "secret")}
    assert_refused(http.post(f"{V1}/auth/token", files=files), loc=["body"])


# ---- integer ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"{V1}/users/99999999999", id="user-int4"),
        pytest.param(f"{V1}/users/{BEYOND_INT64}", id="user-int8"),
        pytest.param(f"{V1}/users/0", id="user-zero"),
        pytest.param(f"{V1}/sync/runs/99999999999999999999", id="sync-run"),
        pytest.param(f"{V1}/sync/runs/{BEYOND_INT64}", id="sync-run-int8"),
        pytest.param(f"{V1}/sync/runs/-1", id="sync-run-negative"),
        pytest.param(f"{V1}/users?offset={BEYOND_INT64}", id="users-offset"),
        pytest.param(f"{V1}/sync/runs?limit={BEYOND_INT64}", id="sync-limit"),
        pytest.param(f"{V1}/tasks/runs?offset={BEYOND_INT64}", id="tasks-offset"),
    ],
)
def test_admin_ids_and_paging_beyond_the_columns_are_refused(
    http: TestClient, admin_headers: dict[str, str], url: str
) -> None:
    assert_refused(http.get(url, headers=admin_headers))


@pytest.mark.parametrize("method", ["get", "patch", "delete", "post-deactivate", "post-activate"])
def test_every_user_route_bounds_its_id(
    http: TestClient, admin_headers: dict[str, str], method: str
) -> None:
    url = f"{V1}/users/99999999999"
    if method.startswith("post-"):
        response = http.post(f"{url}/{method.removeprefix('post-')}", headers=admin_headers)
    elif method == "patch":
        response = http.patch(url, json={"full_name": "x"}, headers=admin_headers)
    else:
        response = http.request(method.upper(), url, headers=admin_headers)
    assert_refused(response, loc=["path", "user_id"])


def test_the_largest_stored_id_is_a_404(http: TestClient, admin_headers: dict[str, str]) -> None:
    assert http.get(f"{V1}/users/{2**31 - 1}", headers=admin_headers).status_code == 404
    assert http.get(f"{V1}/sync/runs/{INT64_MAX}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"{V1}/portfolios/{BEYOND_INT64}", id="portfolio"),
        pytest.param(f"{V1}/portfolios/99999999999/transactions", id="portfolio-int4"),
        pytest.param(f"{V1}/portfolios?offset={BEYOND_INT64}", id="portfolios-offset"),
        pytest.param(f"{V1}/coins?offset={BEYOND_INT64}", id="coins-offset"),
        pytest.param(f"{V1}/coins?limit={BEYOND_INT64}", id="coins-limit"),
    ],
)
def test_user_ids_and_paging_beyond_the_columns_are_refused(
    http: TestClient, user_headers: dict[str, str], url: str
) -> None:
    assert_refused(http.get(url, headers=user_headers))


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(f"page={INT64_MAX}", id="page-int64"),
        pytest.param(f"page={BEYOND_INT64}", id="page-beyond"),
        pytest.param(f"page={10**40}", id="page-huge"),
        pytest.param(f"per_page=1&page={INT64_MAX // 250 + 1}", id="offset-overflow"),
    ],
)
def test_mirror_pages_beyond_any_offset_are_refused(http: TestClient, query: str) -> None:
    response = http.get(f"{V3}/coins/markets?vs_currency=usd&{query}")
    assert_coingecko_refused(response)
    assert response.json() == {"error": "invalid page"}


@pytest.mark.parametrize("order", ["market_cap_desc", "volume_desc"])
@pytest.mark.parametrize("page", [1_000_000, INT64_MAX // 250])
def test_the_mirror_serves_every_page_an_offset_can_reach(
    http: TestClient, factory: Factory, order: str, page: int
) -> None:
    factory.coin("bitcoin")
    query = f"vs_currency=usd&per_page=250&page={page}&order={order}"
    response = http.get(f"{V3}/coins/markets?{query}")
    assert response.status_code == 200, response.text
    assert response.json() == []


# ---- the contract ------------------------------------------------------------------------


def test_openapi_bounds_every_integer_path_id(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    seen = 0
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path" or parameter["schema"].get("type") != "integer":
                    continue
                seen += 1
                assert parameter["schema"]["minimum"] == 1, (path, parameter)
                assert parameter["schema"]["maximum"] in (2**31 - 1, INT64_MAX), (path, parameter)
    assert seen >= 10


# ---- instants ----------------------------------------------------------------------------

YEAR_ONE = "0001-01-01T00:00:00%2B01:00"  # a UTC conversion of it overflows
YEAR_9999 = "9999-12-31T23:59:59-01:00"
RANGE_ROUTES = ["history", "ohlc", "resampled?source=1h&target=1d", "gaps"]


@pytest.fixture
def priced(factory: Factory) -> None:
    """Bitcoin with three daily and three hourly bars in early 2024."""
    coin = factory.coin("bitcoin")
    factory.daily_prices(coin, [1.0, 2.0, 3.0])
    factory.daily_prices(coin, [1.0, 2.0, 3.0], interval="1h", step=dt.timedelta(hours=1))


@pytest.mark.usefixtures("priced")
@pytest.mark.parametrize("route", RANGE_ROUTES)
@pytest.mark.parametrize(
    "bounds",
    [
        pytest.param(f"start={YEAR_ONE}", id="start-year-1"),
        pytest.param(f"end={YEAR_9999}", id="end-year-9999"),
        pytest.param(f"start={YEAR_ONE}&end={YEAR_9999}", id="both"),
        pytest.param("start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59Z", id="utc-extremes"),
    ],
)
def test_range_bounds_beyond_any_data_are_clamped(
    http: TestClient, route: str, bounds: str
) -> None:
    path, _, query = route.partition("?")
    unbounded = http.get(f"{V1}/prices/bitcoin/{path}?{query}")
    separator = "&" if query else ""
    response = http.get(f"{V1}/prices/bitcoin/{path}?{query}{separator}{bounds}")
    assert response.status_code == 200, response.text
    assert unbounded.status_code == 200, unbounded.text
    if path == "gaps":  # a window wider than the data is missing bars at either end
        gaps = response.json()["gaps"]
        assert gaps
        assert all("1970-01-01T00:00:00Z" <= gap["start"] for gap in gaps)
        assert all(gap["end"] <= "2100-01-01T00:00:00Z" for gap in gaps)
    else:
        assert response.json() == unbounded.json()


@pytest.mark.usefixtures("priced")
@pytest.mark.parametrize(
    "window",
    [
        pytest.param("from=-99999999999&to=99999999999", id="huge-seconds"),
        pytest.param("from=-62135596800&to=253402300799", id="year-1-to-9999"),
        pytest.param("from=-1e300&to=1e300", id="float-extremes"),
        pytest.param(f"from={YEAR_ONE}&to={YEAR_9999}", id="iso-with-offsets"),
    ],
)
def test_mirror_ranges_beyond_any_data_are_clamped(http: TestClient, window: str) -> None:
    url = f"{V3}/coins/bitcoin/market_chart/range?vs_currency=usd"
    everything = http.get(f"{url}&from=0&to=4102444800")  # 1970 to 2100
    response = http.get(f"{url}&{window}")
    assert response.status_code == 200, response.text
    assert len(response.json()["prices"]) == 3
    assert response.json() == everything.json()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "soon"])
def test_mirror_instants_that_are_no_number_or_date_are_refused(
    http: TestClient, value: str
) -> None:
    response = http.get(f"{V3}/coins/bitcoin/market_chart/range?vs_currency=usd&from={value}&to=1")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid from"}


@pytest.mark.parametrize("timestamp", [YEAR_ONE.replace("%2B", "+"), YEAR_9999])
def test_bulk_instants_near_year_1_or_9999_are_refused(
    http: TestClient, factory: Factory, admin_headers: dict[str, str], timestamp: str
) -> None:
    factory.coin("bitcoin")
    point = {"coin": "bitcoin", "interval": "1d", "timestamp": timestamp, "price": 1.0}
    response = http.post(f"{V1}/prices/bulk", json={"points": [point]}, headers=admin_headers)
    assert_refused(response, loc=["body", "points", 0, "timestamp"])


@pytest.mark.parametrize("executed_at", [YEAR_ONE.replace("%2B", "+"), YEAR_9999, "1700000000"])
def test_transaction_instants_out_of_range_or_not_dates_are_refused(
    http: TestClient, factory: Factory, user_headers: dict[str, str], executed_at: str
) -> None:
    factory.coin("bitcoin")
    portfolio = http.post(f"{V1}/portfolios", json={"name": "p"}, headers=user_headers).json()
    body = {"coin": "bitcoin", "kind": "transfer_in", "quantity": "1", "executed_at": executed_at}
    url = f"{V1}/portfolios/{portfolio['id']}/transactions"
    assert_refused(http.post(url, json=body, headers=user_headers), loc=["body", "executed_at"])


# ---- strict numbers and booleans ------------------------------------------------------

LAX_INTEGERS = ["1_0", " 1", "1 ", "+1", "1e1", "1.0", "0x1", "\u0661"]
LAX_NUMBERS = ["1_0", " 1", "+1", "inf", "nan", "1e400", "1e", ".5", "\u0661"]
LAX_BOOLEANS = ["0", "1", "yes", "no", "on", "True", "t", " true"]
LAX_BY_TYPE = {"integer": LAX_INTEGERS, "number": LAX_NUMBERS, "boolean": LAX_BOOLEANS}


@pytest.fixture
def everything(factory: Factory, http: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """An admin owning a portfolio with one transaction, and the values for every path
    parameter that then names something that exists."""
    coin = factory.coin("bitcoin")
    factory.daily_prices(coin, [1.0, 2.0])
    admin = factory.admin()
    headers = factory.headers(admin)
    portfolio = http.post(f"{V1}/portfolios", json={"name": "p"}, headers=headers).json()
    body = {"coin": "bitcoin", "kind": "transfer_in", "quantity": "1"}
    body["executed_at"] = "2024-01-01T00:00:00Z"
    url = f"{V1}/portfolios/{portfolio['id']}/transactions"
    transaction = http.post(url, json=body, headers=headers).json()
    paths = {
        "coin": "bitcoin",
        "user_id": str(admin.id),
        "portfolio_id": str(portfolio["id"]),
        "transaction_id": str(transaction["id"]),
    }
    return headers, paths


def _operations(http: TestClient) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every /api/v1 operation in the OpenAPI document."""
    for path, operations in http.get("/openapi.json").json()["paths"].items():
        if path.startswith(V1):
            for method, operation in operations.items():
                yield method, path, operation


def _scalar_type(schema: dict[str, Any]) -> str | None:
    """`integer`, `number` or `boolean` when a parameter's schema is one of them (or null)."""
    types = {branch.get("type") for branch in schema.get("anyOf", [schema])} - {"null"}
    return next(iter(types)) if len(types) == 1 and types <= set(LAX_BY_TYPE) else None


def test_every_query_number_and_boolean_takes_only_its_plain_spelling(
    http: TestClient, everything: tuple[dict[str, str], dict[str, str]]
) -> None:
    headers, paths = everything
    checked = set()
    for method, path, operation in _operations(http):
        if method != "get":  # the sync triggers are checked below without triggering
            continue
        for parameter in operation.get("parameters", []):
            kind = _scalar_type(parameter["schema"])
            if parameter["in"] != "query" or kind is None:
                continue
            url = path.format(**paths)
            checked.add((path, parameter["name"]))
            for lax in LAX_BY_TYPE[kind]:
                response = http.get(url, params={parameter["name"]: lax}, headers=headers)
                assert response.status_code == 422, (path, parameter["name"], lax, response.text)
                locs = [entry["loc"] for entry in response.json()["error"]["details"]]
                assert ["query", parameter["name"]] in locs, (path, lax, locs)
    assert len(checked) >= 15, checked


@pytest.mark.parametrize("trigger", ["discover", "history"])  # one dependency reads them all
@pytest.mark.parametrize(("name", "lax"), [("wait", "yes"), ("wait", "1"), ("timeout", "1_0")])
def test_sync_trigger_flags_take_only_their_plain_spelling(
    http: TestClient, admin_headers: dict[str, str], trigger: str, name: str, lax: str
) -> None:
    # The unknown body field keeps the trigger from running should the flag be accepted.
    response = http.post(
        f"{V1}/sync/{trigger}", params={name: lax}, json={"unknown": 1}, headers=admin_headers
    )
    assert response.status_code == 422, response.text
    assert ["query", name] in [entry["loc"] for entry in response.json()["error"]["details"]]


@pytest.mark.parametrize("lax", ["+1", "1_0", "%201", "1.0", "\u0661"])
def test_path_ids_take_only_plain_digits(
    http: TestClient, everything: tuple[dict[str, str], dict[str, str]], lax: str
) -> None:
    headers, paths = everything
    # User ids are matched as digits by the route itself: anything else names no resource.
    not_a_user = http.get(f"{V1}/users/{lax}", headers=headers)
    assert not_a_user.status_code == 404, not_a_user.text
    assert not_a_user.json()["error"]["code"] == "not_found"
    for url, name in [
        (f"{V1}/sync/runs/{lax}", "run_id"),
        (f"{V1}/portfolios/{lax}", "portfolio_id"),
        (f"{V1}/portfolios/{paths['portfolio_id']}/transactions/{lax}", "transaction_id"),
    ]:
        assert_refused(http.get(url, headers=headers), loc=["path", name])


def test_plain_spellings_are_accepted(
    http: TestClient, everything: tuple[dict[str, str], dict[str, str]]
) -> None:
    headers, paths = everything
    for query in ["limit=10&offset=0", "is_active=true", "is_active=false", "limit=00010"]:
        assert http.get(f"{V1}/coins?{query}").status_code == 200, query
    assert http.get(f"{V1}/users/{paths['user_id']}", headers=headers).status_code == 200
    holdings = f"{V1}/portfolios/{paths['portfolio_id']}/holdings?include_closed=true"
    assert http.get(holdings, headers=headers).status_code == 200


@pytest.mark.parametrize("timeout", ["1e1", "5E-3", "0.5", "300"])
def test_query_numbers_take_json_spellings(
    http: TestClient, admin_headers: dict[str, str], timeout: str
) -> None:
    # What clients print for a float; the lax flag keeps the trigger from running.
    response = http.post(
        f"{V1}/sync/discover", params={"timeout": timeout, "wait": "yes"}, headers=admin_headers
    )
    assert_refused(response, loc=["query", "wait"])


def test_integral_json_numbers_count_as_integers(
    http: TestClient, admin_headers: dict[str, str]
) -> None:
    # JSON Schema's `integer` includes 5.0, and fuzzers send it.
    body = {"coingecko_id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "market_cap_rank": 5.0}
    response = http.post(f"{V1}/coins", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    assert response.json()["market_cap_rank"] == 5


def _lax_bodies(
    spec: dict[str, Any], schema: dict[str, Any], loc: list[str | int]
) -> Iterator[tuple[dict[str, Any], list[str | int]]]:
    """(document, loc): for each number or boolean field of a body schema, a
    document holding that field's value in a spelling only lax parsing accepts, plus an
    unknown field so that no route ever acts on it."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for name, field in schema.get("properties", {}).items():
        branches = field.get("anyOf", [field])
        items = [b["items"] for b in branches if b.get("type") == "array" and "$ref" in b["items"]]
        refs = [b for b in branches if "$ref" in b]
        for nested in refs:
            for inner, at in _lax_bodies(spec, nested, [*loc, name]):
                yield {name: inner, "unknown": 1}, at
        for nested in items:
            for inner, at in _lax_bodies(spec, nested, [*loc, name, 0]):
                yield {name: [inner], "unknown": 1}, at
        kind = _scalar_type(field)
        lax_values = {"integer": ["1", True, 1.5], "number": ["1", True], "boolean": [1, 0, "true"]}
        for lax in lax_values.get(kind or "", []):
            yield {name: lax, "unknown": 1}, [*loc, name]


def test_every_json_body_is_strict(
    http: TestClient, everything: tuple[dict[str, str], dict[str, str]]
) -> None:
    headers, paths = everything
    spec = http.get("/openapi.json").json()
    checked = set()
    for method, path, operation in _operations(http):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        schema = content["application/json"]["schema"]
        for branch in schema.get("anyOf", [schema]):
            for body, loc in _lax_bodies(spec, branch, ["body"]):
                checked.add((path, tuple(loc)))
                url = path.format(**paths)
                response = http.request(method.upper(), url, json=body, headers=headers)
                assert response.status_code == 422, (path, body, response.text)
                locs = [entry["loc"] for entry in response.json()["error"]["details"]]
                # A union names its branch after the field: ["body", "is_active", "bool"].
                assert any(at[: len(loc)] == loc for at in locs), (path, body, locs)
    assert len(checked) >= 14, checked


@pytest.mark.parametrize("quantity", ["1_000", " 1", "1e3", "Infinity", "NaN", "0x10", "\u0661"])
def test_decimal_amounts_as_text_take_only_plain_decimals(
    http: TestClient, factory: Factory, user_headers: dict[str, str], quantity: str
) -> None:
    factory.coin("bitcoin")
    portfolio = http.post(f"{V1}/portfolios", json={"name": "p"}, headers=user_headers).json()
    body = {"coin": "bitcoin", "kind": "transfer_in", "quantity": quantity}
    body["executed_at"] = "2024-01-01T00:00:00Z"
    url = f"{V1}/portfolios/{portfolio['id']}/transactions"
    assert_refused(http.post(url, json=body, headers=user_headers), loc=["body", "quantity"])


def test_decimal_amounts_keep_numbers_and_plain_text(
    http: TestClient, factory: Factory, user_headers: dict[str, str]
) -> None:
    factory.coin("bitcoin")
    portfolio = http.post(f"{V1}/portfolios", json={"name": "p"}, headers=user_headers).json()
    url = f"{V1}/portfolios/{portfolio['id']}/transactions"
    for quantity, stored in [
        ("1.50", "1.5"),
        (2, "2"),
        (0.25, "0.25"),
        ("0.000000000000000001", "0.000000000000000001"),
    ]:
        body = {"coin": "bitcoin", "kind": "transfer_in", "quantity": quantity}
        body["executed_at"] = "2024-01-01T00:00:00Z"
        response = http.post(url, json=body, headers=user_headers)
        assert response.status_code == 201, response.text
        assert response.json()["quantity"] == stored


def test_openapi_publishes_every_bound_in_json_schema_terms(http: TestClient) -> None:
    # A bound applied after a validator leaves pydantic's own names (`ge`, `max_digits`) in
    # the schema, which no client or fuzzer reads, instead of `minimum` and friends.
    pending: list[Any] = [http.get("/openapi.json").json()]
    stray = {"ge", "gt", "le", "lt", "max_digits", "decimal_places"}
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            assert not stray & set(node), node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
