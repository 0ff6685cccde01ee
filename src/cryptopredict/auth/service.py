"""Accounts, logins and token rotation; the routers only call these functions."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cryptopredict.auth.models import RefreshToken, Role, User
from cryptopredict.auth.repository import RefreshTokenRepository, UserRepository
from cryptopredict.auth.schemas import PasswordChange, TokenPair, UserAdminUpdate, UserCreate
from cryptopredict.auth.security import (
    TokenClaims,
    decode_token,
    encode_token,
    hash_password,
    new_token_id,
    verify_password,
)
from cryptopredict.auth.throttle import FailureCounter
from cryptopredict.core.config import Settings
from cryptopredict.core.database import utcnow
from cryptopredict.core.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
)
from cryptopredict.core.pagination import PageParams

logger = logging.getLogger(__name__)


LOGIN_HOLD_BASE_SECONDS = 2
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
"""How long an address the owner signed in from stays exempt from the per-account ceiling."""
"""The first wait of an (account, address) pair past its failure limit; doubles per failure."""


def create(*, session: Session, data: UserCreate, role: Role = Role.USER) -> User:
    """Register an account; a taken email (in any letter case) is a 409.

    The password is hashed before the lookup, so a taken email costs the same Argon2 work as a
    new one: timing adds nothing to what the 409 says, and the per-address registration limit
    bounds how many emails one can probe.
    """
    hashed_password = hash_password(data.password)
    users = UserRepository(session)
    if users.get_by_email(data.email) is not None:
        raise ConflictError("An account with this email already exists")
    try:
        user = users.create(
            email=data.email.lower(),
            hashed_password=hashed_password,
            full_name=data.full_name,
            role=role,
        )
        session.commit()
    except IntegrityError as exc:  # lost a race with a concurrent registration
        session.rollback()
        raise ConflictError("An account with this email already exists") from exc
    logger.info("user registered: id=%s", user.id)
    return user


def register(
    *,
    session: Session,
    settings: Settings,
    throttle: FailureCounter,
    data: UserCreate,
    client_ip: str,
) -> User:
    """Self-service sign-up: `create`, limited to `register_max_attempts` per address per window.

    Every attempt counts, a taken email too, and is counted before the check (one atomic
    increment), so concurrent requests cannot slip past the limit together.
    """
    key = f"register:{client_ip}"
    attempts = throttle.record_failure(key, settings.register_window_seconds)
    if attempts > settings.register_max_attempts:
        wait = throttle.blocked_for(key, settings.register_max_attempts)
        raise RateLimitedError(
            "Too many registrations from this address; try again later", retry_after=max(1, wait)
        )
    return create(session=session, data=data)


def _issue_pair(
    *,
    session: Session,
    settings: Settings,
    user: User,
    family_id: str | None = None,
    refresh_jti: str | None = None,
) -> tuple[TokenPair, TokenClaims]:
    """Sign an access token and a stored refresh token (a new family unless rotating)."""
    access, _ = encode_token(
        settings,
        user_id=user.id,
        token_type="access",
        lifetime=dt.timedelta(minutes=settings.access_token_minutes),
        generation=user.token_generation,
    )
    refresh, refresh_claims = encode_token(
        settings,
        user_id=user.id,
        token_type="refresh",
        lifetime=dt.timedelta(days=settings.refresh_token_days),
        jti=refresh_jti,
        family_id=family_id or new_token_id(),
    )
    RefreshTokenRepository(session).create(
        jti=refresh_claims.jti,
        family_id=refresh_claims.family_id,
        user_id=user.id,
        issued_at=refresh_claims.issued_at,
        expires_at=refresh_claims.expires_at,
    )
    pair = TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_minutes * 60,
    )
    return pair, refresh_claims


def login(
    *,
    session: Session,
    settings: Settings,
    throttle: FailureCounter,
    email: str,
    password: str,
    client_ip: str,
) -> TokenPair:
    """Check credentials under the failed-login limits, then issue tokens.

    Attempts are counted per account and address together, before the password is checked so
    a burst of parallel guesses from one address cannot all slip past: from the
    `login_max_attempts`-th in a window on, each attempt takes the pair's next hold
    (`LOGIN_HOLD_BASE_SECONDS`, doubling) and a success lifts it, so guessing from one
    address slows down while the owner from another address is untouched. A ceiling per
    account (failures from all addresses) stops guessing spread wide, except from an address
    the owner signed in from within `KNOWN_ADDRESS_SECONDS`: it never locks the owner out.
    Per address the ceiling counts distinct accounts failed on, not failures, so people
    mistyping behind one shared (NAT) address lock out no one else; an address that has failed
    on `login_ip_max_attempts` accounts (spraying) may try no further account until its window
    ends, while the accounts it already failed on stay under their pairs' holds.
    """
    email = email.strip().lower()
    window = settings.login_window_seconds
    pair_key = f"pair:{email}|{client_ip}"
    account_key, ip_key = f"account:{email}", f"ip:{client_ip}"
    known_key = f"known:{email}|{client_ip}"
    known = throttle.held_for(known_key) > 0
    address_wait = throttle.blocked_for(ip_key, settings.login_ip_max_attempts)
    if address_wait and throttle.blocked_for(pair_key, 1):  # an account it already failed on
        address_wait = 0
    wait = max(
        throttle.held_for(pair_key),
        0 if known else throttle.blocked_for(account_key, settings.login_account_max_attempts),
        address_wait,
    )
    if wait:
        raise RateLimitedError("Too many failed login attempts; try again later", retry_after=wait)
    attempt = throttle.record_failure(pair_key, window)
    if attempt >= settings.login_max_attempts:
        # Take the pair's next hold before the (slow) password check, so parallel guesses
        # wait for it too; one that began meanwhile finds it and waits.
        running = throttle.held_for(pair_key)
        if running:
            raise RateLimitedError(
                "Too many failed login attempts; try again later", retry_after=running
            )
        excess = attempt - settings.login_max_attempts
        throttle.hold(pair_key, min(window, LOGIN_HOLD_BASE_SECONDS * 2 ** min(excess, 20)))

    users = UserRepository(session)
    user = users.get_by_email(email)
    valid, upgraded_hash = verify_password(password, user.hashed_password if user else None)
    if user is None or not valid:
        if not known:
            throttle.record_failure(account_key, window)
        if attempt == 1:  # the first failure of this account from this address
            throttle.record_failure(ip_key, window)
        raise AuthenticationError("Incorrect email or password")
    if not user.is_active:
        raise AuthenticationError("This account is deactivated")
    throttle.reset(pair_key)
    throttle.hold(known_key, KNOWN_ADDRESS_SECONDS)  # a timed mark: the owner signs in here
    if upgraded_hash:
        user.hashed_password = upgraded_hash
    user.last_login_at = utcnow()
    pair, _ = _issue_pair(session=session, settings=settings, user=user)
    session.commit()
    return pair


def _active_user(session: Session, user_id: int) -> User:
    user = UserRepository(session).get(user_id)
    if user is None or not user.is_active:
        raise AuthenticationError("User is inactive or no longer exists")
    return user


def _stored_refresh_token(
    session: Session, settings: Settings, refresh_token: str
) -> tuple[TokenClaims, RefreshToken]:
    """Verify a refresh token and find its record; unknown tokens are a 401."""
    claims = decode_token(settings, refresh_token, expected_type="refresh")
    stored = RefreshTokenRepository(session).get(claims.jti)
    if stored is None or stored.user_id != claims.subject:
        raise AuthenticationError("Unknown refresh token")
    return claims, stored


def refresh(*, session: Session, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate a refresh token; presenting a used one revokes its whole family (theft signal)."""
    claims, stored = _stored_refresh_token(session, settings, refresh_token)
    tokens = RefreshTokenRepository(session)
    now = utcnow()
    new_jti = new_token_id()
    if not tokens.rotate(claims.jti, replaced_by=new_jti, now=now):
        tokens.revoke_family(stored.family_id, now=now)
        end_access_tokens(session=session, user_id=stored.user_id)
        session.commit()
        logger.warning("refresh token reuse detected: user=%s family revoked", stored.user_id)
        raise AuthenticationError("Refresh token already used; all sessions of it are revoked")
    user = _active_user(session, claims.subject)
    pair, _ = _issue_pair(
        session=session,
        settings=settings,
        user=user,
        family_id=stored.family_id,
        refresh_jti=new_jti,
    )
    session.commit()
    return pair


def logout(*, session: Session, settings: Settings, refresh_token: str) -> None:
    """Revoke the refresh token's whole family and end the user's access tokens at once."""
    _, stored = _stored_refresh_token(session, settings, refresh_token)
    RefreshTokenRepository(session).revoke_family(stored.family_id, now=utcnow())
    end_access_tokens(session=session, user_id=stored.user_id)
    session.commit()


def end_access_tokens(*, session: Session, user_id: int) -> None:
    """Raise the user's token generation: every access token signed before is refused, on every
    device (other logins keep their refresh tokens and get a new access token on refresh)."""
    UserRepository(session).bump_token_generation(user_id)


def user_from_access_token(*, session: Session, settings: Settings, token: str) -> User:
    """The active user an access token speaks for, if no logout, login revocation, password,
    role or active-flag change has raised the user's token generation since it was signed."""
    claims = decode_token(settings, token, expected_type="access")
    user = _active_user(session, claims.subject)
    if claims.generation != user.token_generation:
        raise AuthenticationError("Token has been revoked")
    return user


def change_password(*, session: Session, user: User, data: PasswordChange) -> None:
    """Set a new password and end every other login of this user."""
    valid, _ = verify_password(data.current_password, user.hashed_password)
    if not valid:
        raise AuthenticationError("Current password is incorrect")
    if data.current_password == data.new_password:
        raise BadRequestError("The new password must differ from the current one")
    now = utcnow()
    user.hashed_password = hash_password(data.new_password)
    user.password_changed_at = now
    RefreshTokenRepository(session).revoke_all_for_user(user.id, now=now)
    end_access_tokens(session=session, user_id=user.id)
    session.commit()


def update_self(*, session: Session, user: User, full_name: str | None) -> User:
    """Change one's own profile."""
    UserRepository(session).update(user, full_name=full_name)
    session.commit()
    return user


def list_users(
    *,
    session: Session,
    page: PageParams,
    role: Role | None = None,
    is_active: bool | None = None,
    search: str | None = None,
) -> tuple[list[User], int]:
    """Users for the admin screen, with optional role/active/email-or-name filters."""
    filters: dict[str, object] = {}
    if role is not None:
        filters["role"] = role
    if is_active is not None:
        filters["is_active"] = is_active
    conditions: list[ColumnElement[bool]] = []
    if search:
        pattern = f"%{search.lower()}%"
        conditions.append(or_(User.email.like(pattern), User.full_name.ilike(pattern)))
    users = UserRepository(session)
    items = users.list(filters=filters, conditions=conditions, sort="id", page=page)
    return items, users.count(filters=filters, conditions=conditions)


def get(*, session: Session, user_id: int) -> User:
    """A user by id, or 404."""
    user = UserRepository(session).get(user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} not found")
    return user


def get_by_email(*, session: Session, email: str) -> User | None:
    """The account with this email (any letter case), if there is one."""
    return UserRepository(session).get_by_email(email.strip().lower())


def promote_to_admin(*, session: Session, user: User) -> bool:
    """Give an existing account the admin role; False when it already had it."""
    if user.role == Role.ADMIN:
        return False
    UserRepository(session).update(user, role=Role.ADMIN)
    end_access_tokens(session=session, user_id=user.id)
    session.commit()
    return True


def admin_update(*, session: Session, actor: User, user_id: int, data: UserAdminUpdate) -> User:
    """Change role, active flag or name; admins cannot demote or deactivate themselves."""
    user = get(session=session, user_id=user_id)
    changes = data.model_dump(exclude_unset=True)
    if user.id == actor.id and (
        changes.get("role", Role.ADMIN) != Role.ADMIN or changes.get("is_active", True) is False
    ):
        raise BadRequestError("Admins cannot demote or deactivate themselves")
    if "role" in changes and changes["role"] is None:
        raise BadRequestError("role cannot be null")
    if "is_active" in changes and changes["is_active"] is None:
        raise BadRequestError("is_active cannot be null")
    role_changed = "role" in changes and changes["role"] != user.role
    UserRepository(session).update(user, **changes)
    if changes.get("is_active") is False:
        RefreshTokenRepository(session).revoke_all_for_user(user.id, now=utcnow())
    if role_changed or changes.get("is_active") is False:
        end_access_tokens(session=session, user_id=user.id)
    session.commit()
    return user


def delete(*, session: Session, actor: User, user_id: int) -> None:
    """Delete an account with its portfolios and tokens; never one's own."""
    user = get(session=session, user_id=user_id)
    if user.id == actor.id:
        raise BadRequestError("Admins cannot delete themselves")
    UserRepository(session).delete(user)
    session.commit()
