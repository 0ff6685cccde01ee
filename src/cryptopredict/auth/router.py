"""Routes for sign-up, login, tokens and user management."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from cryptopredict.auth import service
from cryptopredict.auth.dependencies import AdminUser, ClientIpDep, CurrentUser, ThrottleDep
from cryptopredict.auth.models import Role
from cryptopredict.auth.schemas import (
    BrowserSession,
    LoginRequest,
    PasswordChange,
    RefreshRequest,
    TokenPair,
    UserAdminUpdate,
    UserCreate,
    UserRead,
    UserSelfUpdate,
)
from cryptopredict.core.config import Settings
from cryptopredict.core.dependencies import SessionDep, SettingsDep
from cryptopredict.core.errors import AuthenticationError, error_responses
from cryptopredict.core.openapi import links
from cryptopredict.core.pagination import Page, PageDep
from cryptopredict.core.validation import IntId, PlainBoolean

auth_router = APIRouter(prefix="/auth", tags=["auth"], responses=error_responses(400, 422))
# Ids are matched as digits (the `id` converter in `core.validation`), so /users/me with
# another method is a 405, not an id.
users_router = APIRouter(prefix="/users", tags=["users"], responses=error_responses(401, 422))

# A new account logs in with what it registered; an issued pair is refreshed or logged out.
_REGISTERED_LINKS = links(
    status.HTTP_201_CREATED,
    {"Login": "login"},
    request_body={"email": "$request.body#/email", "password": "$request.body#/password"},
)
_TOKEN_LINKS = links(
    status.HTTP_200_OK,
    {"Refresh": "refresh", "Logout": "logout"},
    request_body={"refresh_token": "$response.body#/refresh_token"},
)


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=_REGISTERED_LINKS | error_responses(409, 429),
)
def register(
    data: UserCreate,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIpDep,
) -> UserRead:
    """Create an account with the `user` role; a few per client address per hour."""
    user = service.register(
        session=session, settings=settings, throttle=throttle, data=data, client_ip=ip
    )
    return UserRead.model_validate(user)


@auth_router.post("/login", responses=_TOKEN_LINKS | error_responses(401, 429))
def login(
    data: LoginRequest,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIpDep,
) -> TokenPair:
    """Exchange email and password (JSON) for an access and a refresh token."""
    return service.login(
        session=session,
        settings=settings,
        throttle=throttle,
        email=data.email,
        password=data.password,
        client_ip=ip,
    )


@auth_router.post("/token", responses=error_responses(401, 429))
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIpDep,
) -> TokenPair:
    """OAuth2 password flow (form fields `username`, `password`), as used by /docs."""
    return service.login(
        session=session,
        settings=settings,
        throttle=throttle,
        email=form.username,
        password=form.password,
        client_ip=ip,
    )


@auth_router.post("/refresh", responses=_TOKEN_LINKS | error_responses(401))
def refresh(data: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Rotate a refresh token: the old one stops working, reusing it revokes the login."""
    return service.refresh(session=session, settings=settings, refresh_token=data.refresh_token)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401))
def logout(data: RefreshRequest, session: SessionDep, settings: SettingsDep) -> None:
    """Revoke the refresh token and every token rotated from the same login, and end all of
    the user's access tokens at once (other logins get a new one on their next refresh)."""
    service.logout(session=session, settings=settings, refresh_token=data.refresh_token)


REFRESH_COOKIE = "cp_refresh"
"""The browser session's refresh token: httpOnly (no script reads it), SameSite=Strict (no
other site's page sends it), scoped to the session routes, Secure over HTTPS."""
RefreshCookie = Annotated[
    str | None,
    Cookie(alias=REFRESH_COOKIE, max_length=4096, pattern=r"^[A-Za-z0-9_.\-]*$"),
]
AnyRefreshCookie = Annotated[str | None, Cookie(alias=REFRESH_COOKIE)]
"""The cookie as logging out takes it: any value at all, since a malformed cookie must be
cleared like any other (and a Cookie header's own parsing can turn a malformed value into a
well-formed one, so declaring a form here would promise a refusal that cannot be kept)."""
"""The cookie as the server sets it (a signed token: base64url parts joined by dots); any
other value is refused (422) before it reaches the token checks."""


def _cookie_options(request: Request, settings: Settings) -> dict[str, Any]:
    return {
        "path": request.app.url_path_for("start_session"),
        "secure": request.url.scheme == "https" or settings.env == "production",
        "httponly": True,
        "samesite": "strict",
    }


def _browser_session(
    request: Request, response: Response, settings: Settings, pair: TokenPair
) -> BrowserSession:
    """The access token for the page, the refresh token set as the session cookie."""
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.refresh_token_days * 24 * 3600,
        **_cookie_options(request, settings),
    )
    return BrowserSession(access_token=pair.access_token, expires_in=pair.expires_in)


@auth_router.post("/session", responses=error_responses(401, 429))
def start_session(
    data: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    throttle: ThrottleDep,
    ip: ClientIpDep,
) -> BrowserSession:
    """Log a browser in: the access token in the body (keep it in memory only), the refresh
    token in an httpOnly, SameSite=Strict cookie (`cp_refresh`) that only these routes see."""
    pair = login(data, session, settings, throttle, ip)
    return _browser_session(request, response, settings, pair)


@auth_router.post("/session/refresh", responses=error_responses(401))
def refresh_session(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    cp_refresh: RefreshCookie = None,
) -> BrowserSession:
    """A new access token for the browser session, rotating its cookie (reusing an old
    cookie revokes the login, as for `/auth/refresh`)."""
    if not cp_refresh:
        raise AuthenticationError("No browser session: log in first")
    pair = service.refresh(session=session, settings=settings, refresh_token=cp_refresh)
    return _browser_session(request, response, settings, pair)


@auth_router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
def end_session(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cp_refresh: AnyRefreshCookie = None,
) -> Response:
    """Log the browser out: its login is revoked (as `/auth/logout` does) and the cookie
    cleared. Idempotent: a missing or already revoked cookie is cleared all the same."""
    if cp_refresh:
        with contextlib.suppress(AuthenticationError):  # already revoked or unknown
            service.logout(session=session, settings=settings, refresh_token=cp_refresh)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(REFRESH_COOKIE, **_cookie_options(request, settings))
    return response


@users_router.get("/me")
def read_me(user: CurrentUser) -> UserRead:
    """The signed-in user."""
    return UserRead.model_validate(user)


@users_router.patch("/me")
def update_me(data: UserSelfUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    """Change one's own profile."""
    return UserRead.model_validate(
        service.update_self(session=session, user=user, full_name=data.full_name)
    )


@users_router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(data: PasswordChange, user: CurrentUser, session: SessionDep) -> None:
    """Change one's password; all refresh tokens and older access tokens stop working."""
    service.change_password(session=session, user=user, data=data)


@users_router.get("", responses=error_responses(403))
def list_users(
    _admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    role: Role | None = None,
    is_active: Annotated[bool | None, PlainBoolean] = None,
    q: Annotated[str | None, Query(max_length=100, description="Email or name contains")] = None,
) -> Page[UserRead]:
    """All users (admin only), filterable by role, active flag and text."""
    items, total = service.list_users(
        session=session, page=page, role=role, is_active=is_active, search=q
    )
    return Page[UserRead](
        items=[UserRead.model_validate(u) for u in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@users_router.get("/{user_id:id}", responses=error_responses(403, 404))
def get_user(user_id: IntId, _admin: AdminUser, session: SessionDep) -> UserRead:
    """One user (admin only)."""
    return UserRead.model_validate(service.get(session=session, user_id=user_id))


# 400: an admin demoting, deactivating or deleting their own account.
@users_router.patch("/{user_id:id}", responses=error_responses(400, 403, 404))
def update_user(
    user_id: IntId, data: UserAdminUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    """Change a user's role, name or active flag (admin only)."""
    user = service.admin_update(session=session, actor=admin, user_id=user_id, data=data)
    return UserRead.model_validate(user)


@users_router.post("/{user_id:id}/deactivate", responses=error_responses(400, 403, 404))
def deactivate_user(user_id: IntId, admin: AdminUser, session: SessionDep) -> UserRead:
    """Deactivate an account: its tokens stop working at once (admin only)."""
    data = UserAdminUpdate(is_active=False)
    return UserRead.model_validate(
        service.admin_update(session=session, actor=admin, user_id=user_id, data=data)
    )


@users_router.post("/{user_id:id}/activate", responses=error_responses(403, 404))
def activate_user(user_id: IntId, admin: AdminUser, session: SessionDep) -> UserRead:
    """Re-activate an account (admin only)."""
    data = UserAdminUpdate(is_active=True)
    return UserRead.model_validate(
        service.admin_update(session=session, actor=admin, user_id=user_id, data=data)
    )


@users_router.delete(
    "/{user_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 403, 404),
)
def delete_user(user_id: IntId, admin: AdminUser, session: SessionDep) -> None:
    """Delete an account and everything it owns (admin only)."""
    service.delete(session=session, actor=admin, user_id=user_id)
