"""Fixtures for portfolio tests: one shared app, two signed-in users and two coins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cryptopredict.coins.models import Cryptocurrency
from tests.factories import Factory
from tests.portfolios.helpers import Owner, make_owner


@pytest.fixture
def owner(client: TestClient, factory: Factory) -> Owner:
    """User A: owns the portfolios under test."""
    return make_owner(client, factory)


@pytest.fixture
def intruder(client: TestClient, factory: Factory) -> Owner:
    """User B: signed in, but owns none of A's portfolios."""
    return make_owner(client, factory)


@pytest.fixture
def bitcoin(factory: Factory) -> Cryptocurrency:
    """BTC, found by `bitcoin` or `btc`."""
    return factory.coin("bitcoin", symbol="btc", name="Bitcoin", rank=1)


@pytest.fixture
def ethereum(factory: Factory) -> Cryptocurrency:
    """ETH, found by `ethereum` or `eth`."""
    return factory.coin("ethereum", symbol="eth", name="Ethereum", rank=2)
