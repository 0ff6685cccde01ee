"""Dependency aliases shared by every router, so routes read like sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cryptopredict.core.config import Settings
from cryptopredict.core.database import get_session


def get_app_settings(request: Request) -> Settings:
    """The settings the running application was created with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
