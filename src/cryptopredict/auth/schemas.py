"""Request and response bodies for accounts and tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from cryptopredict.auth.models import Role
from cryptopredict.core.validation import ByValue, RequestModel

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


# Any case: JSON Schema patterns have no case-insensitive flag.
_RESERVED_DOMAINS = "|".join(
    "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)
    for name in SPECIAL_USE_DOMAIN_NAMES
)
NewEmail = Annotated[
    EmailStr,
    # Documented only: the email validator refuses these reserved names itself.
    Field(json_schema_extra={"pattern": rf"^(?!.*@(?:.*\.)?(?:{_RESERVED_DOMAINS})$)"}),
]
"""An address an account may be created with: any deliverable-looking address, but not one at
a special-use domain such as `.test` or `.localhost`."""


def _normalise_email(value: str) -> str:
    """Emails compare case-insensitively, so they are stored lower-cased."""
    return value.strip().lower()


class UserCreate(RequestModel):
    """Registration form."""

    email: NewEmail
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
    full_name: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return _normalise_email(value)


class LoginRequest(RequestModel):
    """JSON login."""

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return _normalise_email(value)


class RefreshRequest(RequestModel):
    """A refresh token to rotate or revoke."""

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(RequestModel):
    """Change one's own password; the current one proves it is really the owner."""

    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class TokenPair(BaseModel):
    """What a successful login or refresh returns."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds")


class BrowserSession(BaseModel):
    """A browser login's access token; its refresh token travels only in an httpOnly cookie."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds")


class UserRead(BaseModel):
    """A user as shown to themselves or to an admin (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class UserSelfUpdate(RequestModel):
    """What users may change about themselves."""

    full_name: str | None = Field(default=None, max_length=200)


class UserAdminUpdate(RequestModel):
    """What an admin may change about any user."""

    full_name: str | None = Field(default=None, max_length=200)
    # Left out is unchanged; role and the flag cannot be cleared.
    role: ByValue[Role] | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None
