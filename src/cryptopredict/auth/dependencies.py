"""Who is calling: `CurrentUser` for any signed-in user, `AdminUser` for admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from cryptopredict.auth import service
from cryptopredict.auth.models import Role, User
from cryptopredict.auth.throttle import FailureCounter
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import AuthenticationError, PermissionDeniedError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def current_user(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    session: SessionDep,
    settings: SettingsDep,
) -> User:
    """The active user behind the bearer token, or 401."""
    if not token:
        raise AuthenticationError("Not authenticated")
    return service.user_from_access_token(session=session, settings=settings, token=token)


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    """The current user if an admin, else 403."""
    if user.role != Role.ADMIN:
        raise PermissionDeniedError("Administrator role required")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def login_throttle(request: Request) -> FailureCounter:
    """The application's attempt counter: failed logins and registrations, per key."""
    throttle: FailureCounter = request.app.state.login_throttle
    return throttle


ThrottleDep = Annotated[FailureCounter, Depends(login_throttle)]


def client_ip(request: Request) -> str:
    """The peer address (a trusted proxy's X-Forwarded-For, resolved by `serve`), used to
    limit login and registration attempts per address."""
    return request.client.host if request.client else "unknown"


ClientIpDep = Annotated[str, Depends(client_ip)]
