"""The generic repository's CRUD, filters, sorting, counting and paging on a real table."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from cryptopredict.auth.models import Role, User
from cryptopredict.auth.repository import UserRepository
from cryptopredict.coins.repository import CoinRepository
from cryptopredict.core.pagination import PageParams
from tests.factories import Factory


def test_create_get_update_delete_exists_count(db_session: Session) -> None:
    users = UserRepository(db_session)
    user = users.create(email="crud@example.com", hashed_password="x", full_name="Before")
    assert user.id is not None
    assert users.get(user.id) is user
    assert users.exists(email="crud@example.com")
    assert users.count(filters={"email": "crud@example.com"}) == 1
    users.update(user, full_name="After")
    db_session.expire_all()
    fetched = users.get(user.id)
    assert fetched is not None and fetched.full_name == "After"
    users.delete(fetched)
    assert users.get(user.id) is None
    assert not users.exists(email="crud@example.com")


def test_list_filters_sorts_and_pages(db_session: Session, factory: Factory) -> None:
    for rank, name in [(3, "Gamma"), (1, "Alpha"), (2, "Beta"), (None, "Delta")]:
        factory.coin(name.lower(), name=name, rank=rank)
    coins = CoinRepository(db_session)
    by_name = coins.list(sort="name")
    assert [c.name for c in by_name] == ["Alpha", "Beta", "Delta", "Gamma"]
    by_name_desc = coins.list(sort="-name", page=PageParams(limit=2, offset=1))
    assert [c.name for c in by_name_desc] == ["Delta", "Beta"]
    assert [c.name for c in coins.top_by_rank(2)] == ["Alpha", "Beta"]
    assert [c.name for c in coins.list(conditions=[coins.search_condition("ga")])] == ["Gamma"]
    assert coins.count(conditions=[coins.search_condition("%")]) == 0


def test_unknown_column_is_refused(db_session: Session) -> None:
    with pytest.raises(ValueError, match="no column"):
        UserRepository(db_session).list(filters={"password": "x"})
    with pytest.raises(ValueError, match="no column"):
        UserRepository(db_session).list(sort="-nope")


def test_set_active_and_email_lookup_is_case_insensitive(
    db_session: Session, factory: Factory
) -> None:
    user = factory.user(email="MiXeD@Example.com")
    users = UserRepository(db_session)
    found = users.get_by_email("mixed@EXAMPLE.com")
    assert found is not None and found.id == user.id
    users.set_active(user, active=False)
    assert users.list(filters={"is_active": False, "role": Role.USER}) == [user]
    assert isinstance(found, User)
