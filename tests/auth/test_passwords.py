"""Argon2 for new hashes; bcrypt hashes from older systems still log in and get upgraded."""

from __future__ import annotations

from fastapi.testclient import TestClient
from pwdlib.hashers.bcrypt import BcryptHasher

from cryptopredict.auth.models import User
from cryptopredict.auth.security import hash_password, verify_password
from tests.factories import Factory


def test_new_hashes_are_argon2id_and_verify() -> None:
    hashed = hash_password("a-good-password")
    assert hashed.startswith("$argon2id$")
    assert verify_password("a-good-password", hashed)[0]
    assert not verify_password("a-bad-password", hashed)[0]


def test_corrupt_hash_is_a_failed_login_not_an_error() -> None:
    assert verify_password("whatever", "not-a-hash") == (False, None)


def test_bcrypt_user_logs_in_and_is_rehashed(client: TestClient, factory: Factory) -> None:
    user = factory.user()
    user.hashed_password = BcryptHasher().hash("legacy-password")
    factory.session.commit()
    response = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "legacy-password"}
    )
    assert response.status_code == 200
    factory.session.expire_all()
    refreshed = factory.session.get(User, user.id)
    assert refreshed is not None and refreshed.hashed_password.startswith("$argon2id$")
