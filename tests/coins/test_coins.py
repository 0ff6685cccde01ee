"""The coin catalogue: list, search, sort, pagination, look-ups and admin-only edits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cryptopredict.coins.models import Cryptocurrency
from cryptopredict.portfolios.models import Portfolio, PortfolioTransaction, TransactionKind
from cryptopredict.prices.models import PriceData
from tests.factories import Factory

COINS = "/api/v1/coins"


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["coingecko_id"] for item in body["items"]]


def _catalogue(factory: Factory) -> None:
    factory.coin("ethereum", symbol="eth", name="Ethereum", rank=2)
    factory.coin("bitcoin", symbol="btc", name="Bitcoin", rank=1)
    factory.coin("bitcoin-cash", symbol="bch", name="Bitcoin Cash", rank=20)
    factory.coin("wrapped-bitcoin", symbol="wbtc", name="Wrapped Bitcoin", rank=15)
    factory.coin("zcoin-old", symbol="xzc", name="Zcoin", rank=None, is_active=False)
    factory.coin("aave", symbol="aave", name="Aave", rank=None)


def test_default_sort_is_rank_with_unranked_last(client: TestClient, factory: Factory) -> None:
    _catalogue(factory)
    body = client.get(COINS).json()
    assert _ids(body) == [
        "bitcoin",
        "ethereum",
        "wrapped-bitcoin",
        "bitcoin-cash",
        "zcoin-old",  # unranked ties are broken by id, so pages never overlap
        "aave",
    ]
    assert body["total"] == 6
    descending = client.get(COINS, params={"sort": "-market_cap_rank"}).json()
    assert _ids(descending)[:4] == ["bitcoin-cash", "wrapped-bitcoin", "ethereum", "bitcoin"]
    assert set(_ids(descending)[4:]) == {"aave", "zcoin-old"}


def test_sort_by_name_and_symbol(client: TestClient, factory: Factory) -> None:
    _catalogue(factory)
    by_name = _ids(client.get(COINS, params={"sort": "name"}).json())
    assert by_name == [
        "aave",
        "bitcoin",
        "bitcoin-cash",
        "ethereum",
        "wrapped-bitcoin",
        "zcoin-old",
    ]
    by_symbol_desc = client.get(COINS, params={"sort": "-symbol"}).json()["items"]
    assert [c["symbol"] for c in by_symbol_desc] == ["xzc", "wbtc", "eth", "btc", "bch", "aave"]
    bad = client.get(COINS, params={"sort": "created_at"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


def test_search_is_a_case_insensitive_prefix(client: TestClient, factory: Factory) -> None:
    _catalogue(factory)

    def search(q: str) -> set[str]:
        response = client.get(COINS, params={"q": q})
        assert response.status_code == 200
        assert response.json()["total"] == len(response.json()["items"])
        return set(_ids(response.json()))

    assert search("BIT") == {"bitcoin", "bitcoin-cash"}  # not "wrapped-bitcoin": prefix only
    assert search("wbt") == {"wrapped-bitcoin"}  # by symbol
    assert search("bitcoin-c") == {"bitcoin-cash"}  # by CoinGecko id
    assert search("Wrapped B") == {"wrapped-bitcoin"}  # by name, with a space
    assert search("%") == set()  # wildcards are literal characters
    assert search("_") == set()


def test_is_active_filter_combines_with_search(client: TestClient, factory: Factory) -> None:
    _catalogue(factory)
    inactive = client.get(COINS, params={"is_active": "false"}).json()
    assert _ids(inactive) == ["zcoin-old"]
    active_z = client.get(COINS, params={"is_active": "true", "q": "z"}).json()
    assert active_z["total"] == 0


def test_pagination_totals_and_bounds(client: TestClient, factory: Factory) -> None:
    for rank in range(1, 8):
        factory.coin(f"coin-rank-{rank}", rank=rank)
    page = client.get(COINS, params={"limit": 3, "offset": 3}).json()
    assert _ids(page) == ["coin-rank-4", "coin-rank-5", "coin-rank-6"]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 3)
    tail = client.get(COINS, params={"limit": 3, "offset": 6}).json()
    assert _ids(tail) == ["coin-rank-7"] and tail["total"] == 7
    beyond = client.get(COINS, params={"offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 7
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        response = client.get(COINS, params=params)
        assert response.status_code == 422, params
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["loc"] == ["query", next(iter(params))]


def test_get_by_coingecko_id_or_symbol(client: TestClient, factory: Factory) -> None:
    bitcoin = factory.coin("bitcoin", symbol="btc", name="Bitcoin", rank=1)
    factory.coin("bitcoin-pow-clone", symbol="btc", name="Clone", rank=900)
    by_id = client.get(f"{COINS}/bitcoin")
    assert by_id.status_code == 200
    assert by_id.json()["id"] == bitcoin.id
    assert by_id.json()["name"] == "Bitcoin"
    by_symbol = client.get(f"{COINS}/BTC")  # symbols are case-insensitive; best rank wins
    assert by_symbol.json()["coingecko_id"] == "bitcoin"


def test_unknown_coin_is_404_in_common_shape(client: TestClient) -> None:
    response = client.get(f"{COINS}/no-such-coin")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "Unknown coin 'no-such-coin'",
            "details": {"coin": "no-such-coin"},
        }
    }


NEW_COIN = {
    "coingecko_id": "solana",
    "symbol": "SOL",
    "name": "Solana",
    "market_cap_rank": 5,
    "image_url": "https://example.com/sol.png",
}


def test_admin_creates_coin_and_duplicate_is_409(client: TestClient, factory: Factory) -> None:
    headers = factory.headers(factory.admin())
    created = client.post(COINS, json=NEW_COIN, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["symbol"] == "sol"  # stored lower-case so ticker look-ups ignore case
    assert body["is_active"] is True
    assert client.get(f"{COINS}/sol").json()["id"] == body["id"]

    again = client.post(COINS, json={**NEW_COIN, "symbol": "sol2"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert again.json()["error"]["details"] == {"coingecko_id": "solana"}


INVALID_CREATES = [
    ({"coingecko_id": "Solana"}, "coingecko_id"),
    ({"coingecko_id": "-solana"}, "coingecko_id"),
    ({"coingecko_id": "x" * 101}, "coingecko_id"),
    ({"market_cap_rank": 0}, "market_cap_rank"),
    ({"name": "n" * 201}, "name"),
    ({"name": "   "}, "name"),
    ({"symbol": "s" * 51}, "symbol"),
    ({"image_url": "javascript:alert(1)"}, "image_url"),
    ({"unexpected": 1}, "unexpected"),
]


def test_create_validation(client: TestClient, factory: Factory) -> None:
    headers = factory.headers(factory.admin())
    for change, field in INVALID_CREATES:
        response = client.post(COINS, json={**NEW_COIN, **change}, headers=headers)
        assert response.status_code == 422, change
        assert response.json()["error"]["details"][0]["loc"][:2] == ["body", field]
    assert client.get(COINS).json()["total"] == 0


def test_edits_need_an_admin(client: TestClient, factory: Factory) -> None:
    factory.coin("bitcoin", symbol="btc", rank=1)
    user = factory.headers(factory.user())
    requests = [
        ("POST", COINS, NEW_COIN),
        ("PATCH", f"{COINS}/bitcoin", {"name": "Hacked"}),
        ("DELETE", f"{COINS}/bitcoin", None),
    ]
    for method, url, body in requests:
        anonymous = client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, anonymous.text)
        assert anonymous.json()["error"]["code"] == "not_authenticated"
        forbidden = client.request(method, url, json=body, headers=user)
        assert forbidden.status_code == 403, (method, forbidden.text)
        assert forbidden.json()["error"]["code"] == "permission_denied"
    coin = client.get(f"{COINS}/bitcoin").json()
    assert coin["name"] == "Bitcoin"
    assert client.get(f"{COINS}/solana").status_code == 404


def test_admin_updates_coin(client: TestClient, factory: Factory) -> None:
    factory.coin("bitcoin", symbol="btc", name="Bitcoin", rank=1)
    headers = factory.headers(factory.admin())
    response = client.patch(
        f"{COINS}/bitcoin",
        json={"name": "Bitcoin Core", "symbol": "XBT", "is_active": False},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["symbol"], body["is_active"]) == ("Bitcoin Core", "xbt", False)
    assert body["market_cap_rank"] == 1  # untouched fields stay
    cleared = client.patch(f"{COINS}/xbt", json={"market_cap_rank": None}, headers=headers)
    assert cleared.json()["market_cap_rank"] is None
    assert client.get(f"{COINS}/bitcoin").json()["name"] == "Bitcoin Core"

    for bad in ({"name": None}, {"market_cap_rank": -3}, {"coingecko_id": "other"}):
        assert client.patch(f"{COINS}/bitcoin", json=bad, headers=headers).status_code == 422
    assert client.patch(f"{COINS}/nope", json={"name": "x"}, headers=headers).status_code == 404


def test_admin_deletes_coin_with_its_prices(
    client: TestClient, factory: Factory, db_session: Session
) -> None:
    bitcoin = factory.coin("bitcoin", symbol="btc", rank=1)
    ethereum = factory.coin("ethereum", symbol="eth", rank=2)
    factory.daily_prices(bitcoin, [100.0, 101.0, 102.0])
    factory.daily_prices(ethereum, [10.0, 11.0])
    bitcoin_id = bitcoin.id

    response = client.delete(f"{COINS}/bitcoin", headers=factory.headers(factory.admin()))
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"{COINS}/bitcoin").status_code == 404

    def prices_of(coin_id: int) -> int:
        statement = select(func.count()).select_from(PriceData).where(PriceData.coin_id == coin_id)
        return int(db_session.scalar(statement) or 0)

    assert prices_of(bitcoin_id) == 0
    assert prices_of(ethereum.id) == 2
    assert db_session.get(Cryptocurrency, ethereum.id) is not None


def test_coin_held_in_a_portfolio_cannot_be_deleted(
    client: TestClient, factory: Factory, db_session: Session
) -> None:
    coin = factory.coin("bitcoin", symbol="btc", rank=1)
    owner = factory.user()
    portfolio = Portfolio(user_id=owner.id, name="Main")
    db_session.add(portfolio)
    db_session.flush()
    db_session.add(
        PortfolioTransaction(
            portfolio_id=portfolio.id,
            coin_id=coin.id,
            kind=TransactionKind.BUY,
            quantity=Decimal("0.5"),
            price=Decimal("30000"),
            executed_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        )
    )
    db_session.commit()

    response = client.delete(f"{COINS}/bitcoin", headers=factory.headers(factory.admin()))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert client.get(f"{COINS}/bitcoin").status_code == 200
