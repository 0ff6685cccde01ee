"""Helpers for portfolio tests: a thin client per signed-in user, and the error-shape check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from cryptopredict.auth.models import User
from tests.factories import Factory

BASE = "/api/v1/portfolios"


@dataclass
class Owner:
    """A user and the calls they make against their own portfolios."""

    client: TestClient
    user: User
    headers: dict[str, str]

    def create_portfolio(self, name: str = "Main", **fields: Any) -> dict[str, Any]:
        """Create a portfolio and return its body (the call must succeed)."""
        response = self.post(BASE, {"name": name, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def add(
        self,
        portfolio_id: int,
        kind: str,
        quantity: str,
        *,
        coin: str = "bitcoin",
        price: str | None = "100",
        at: str = "2024-01-01T00:00:00Z",
        **fields: Any,
    ) -> httpx.Response:
        """Post a transaction; returns the raw response so refusals can be checked."""
        body: dict[str, Any] = {
            "coin": coin,
            "kind": kind,
            "quantity": quantity,
            "executed_at": at,
            **fields,
        }
        if price is not None:
            body["price"] = price
        return self.post(f"{BASE}/{portfolio_id}/transactions", body)

    def added(self, portfolio_id: int, kind: str, quantity: str, **kwargs: Any) -> dict[str, Any]:
        """Post a transaction that must be accepted, and return its body."""
        response = self.add(portfolio_id, kind, quantity, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Any call, signed in as this owner."""
        response: httpx.Response = self.client.request(method, url, headers=self.headers, **kwargs)
        return response

    def get(self, url: str, **params: Any) -> httpx.Response:
        """GET as this owner."""
        return self.request("GET", url, params=params)

    def post(self, url: str, body: Any) -> httpx.Response:
        """POST JSON as this owner."""
        return self.request("POST", url, json=body)

    def patch(self, url: str, body: Any) -> httpx.Response:
        """PATCH JSON as this owner."""
        return self.request("PATCH", url, json=body)

    def delete(self, url: str) -> httpx.Response:
        """DELETE as this owner."""
        return self.request("DELETE", url)

    def holdings(self, portfolio_id: int, **params: Any) -> dict[str, dict[str, Any]]:
        """Holdings keyed by CoinGecko id."""
        response = self.get(f"{BASE}/{portfolio_id}/holdings", **params)
        assert response.status_code == 200, response.text
        return {h["coin"]["coingecko_id"]: h for h in response.json()}

    def transactions(self, portfolio_id: int, **params: Any) -> dict[str, Any]:
        """The transactions page body."""
        response = self.get(f"{BASE}/{portfolio_id}/transactions", **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def make_owner(client: TestClient, factory: Factory, **kwargs: Any) -> Owner:
    """A fresh signed-in user."""
    user = factory.user(**kwargs)
    return Owner(client, user, factory.headers(user))


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the common error shape with this status and code; returns `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
