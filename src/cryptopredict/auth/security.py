"""Password hashing and JWT encoding/decoding; no database access here."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import AuthenticationError

TokenType = Literal["access", "refresh"]

# Argon2id at OWASP's recommended floor (19 MiB, 2 passes): ~30 ms on a small server, so a
# login storm cannot starve the CPU. bcrypt hashes from older systems still verify and are
# re-hashed with Argon2 on the next successful login.
password_hash = PasswordHash(
    (Argon2Hasher(time_cost=2, memory_cost=19_456, parallelism=1), BcryptHasher())
)

# Verifying against this keeps login timing the same whether or not the account exists.
_DUMMY_HASH = password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return password_hash.hash(password)


def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (valid, new hash if the stored one should be upgraded)."""
    if hashed is None:
        password_hash.verify(password, _DUMMY_HASH)
        return False, None
    try:
        return password_hash.verify_and_update(password, hashed)
    except Exception:  # an unrecognised or corrupt hash is a failed login, not a 500
        return False, None


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """The claims we rely on from a verified token."""

    subject: int
    token_type: TokenType
    jti: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    family_id: str | None = None
    generation: int = 0


def new_token_id() -> str:
    """A random, URL-safe token identifier."""
    return secrets.token_urlsafe(24)


def encode_token(
    settings: Settings,
    *,
    user_id: int,
    token_type: TokenType,
    lifetime: dt.timedelta,
    jti: str | None = None,
    family_id: str | None = None,
    generation: int | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token of the given type; refresh tokens also carry their rotation family, access
    tokens the user's token generation, which must still be current when they are presented."""
    now = utcnow().replace(microsecond=0)
    claims = TokenClaims(
        subject=user_id,
        token_type=token_type,
        jti=jti or new_token_id(),
        issued_at=now,
        expires_at=now + lifetime,
        family_id=family_id,
        generation=generation or 0,
    )
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "type": token_type,
        "jti": claims.jti,
        "iat": now,
        "exp": claims.expires_at,
    }
    if family_id is not None:
        payload["fam"] = family_id
    if generation is not None:
        payload["gen"] = generation
    token = jwt.encode(payload, settings.signing_key, algorithm=settings.jwt_algorithm)
    return token, claims


def decode_token(settings: Settings, token: str, *, expected_type: TokenType) -> TokenClaims:
    """Verify signature, algorithm, expiry and type; any failure is a 401."""
    try:
        payload = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "exp", "iat", "jti", "type"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("Token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError("Invalid token") from exc
    if payload.get("type") != expected_type:
        raise AuthenticationError(f"Expected an {expected_type} token")
    try:
        subject = int(payload["sub"])
    except (TypeError, ValueError) as exc:
        raise AuthenticationError("Invalid token subject") from exc
    # Tokens signed before generations existed have no `gen`: they count as generation 0,
    # which every user starts at, so the first revocation after the upgrade ends them too.
    generation = payload.get("gen", 0)
    if type(generation) is not int or generation < 0:
        raise AuthenticationError("Invalid token generation")
    return TokenClaims(
        subject=subject,
        token_type=expected_type,
        jti=str(payload["jti"]),
        issued_at=dt.datetime.fromtimestamp(int(payload["iat"]), dt.UTC),
        expires_at=dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC),
        family_id=payload.get("fam"),
        generation=generation,
    )
