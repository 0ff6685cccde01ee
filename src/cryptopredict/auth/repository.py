"""SQL for users and refresh tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from cryptopredict.auth.models import RefreshToken, User
from cryptopredict.core.repository import Repository


class UserRepository(Repository[User]):
    """Users, looked up by lower-cased email."""

    model = User
    sortable = frozenset({"id", "email", "created_at", "role"})

    def get_by_email(self, email: str) -> User | None:
        """The user with this (already lower-cased) email."""
        return self.session.scalars(select(User).where(User.email == email.lower())).first()

    def set_active(self, user: User, *, active: bool) -> User:
        """Activate or deactivate an account."""
        return self.update(user, is_active=active)

    def bump_token_generation(self, user_id: int) -> None:
        """End every access token the user holds, atomically against concurrent bumps."""
        self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_generation=User.token_generation + 1)
        )


class RefreshTokenRepository(Repository[RefreshToken]):
    """Issued refresh tokens, for rotation and revocation."""

    model = RefreshToken

    def rotate(self, jti: str, *, replaced_by: str, now: dt.datetime) -> bool:
        """Atomically retire an active token; False if it was already used or revoked."""
        result = self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.jti == jti, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now, replaced_by=replaced_by)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_family(self, family_id: str, *, now: dt.datetime) -> int:
        """Revoke every still-active token of one login."""
        return self._revoke(RefreshToken.family_id == family_id, now)

    def revoke_all_for_user(self, user_id: int, *, now: dt.datetime) -> int:
        """Revoke every still-active token of a user (password change, deactivation)."""
        return self._revoke(RefreshToken.user_id == user_id, now)

    def _revoke(self, condition: object, now: dt.datetime) -> int:
        result = self.session.execute(
            update(RefreshToken)
            .where(condition, RefreshToken.revoked_at.is_(None))  # type: ignore[arg-type]
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
