"""Dependency aliases shared by every router, so routes read like sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cryptopredict.core.cache import ResponseCache
from cryptopredict.core.config import Settings
from cryptopredict.core.database import get_session


async def get_response_cache(request: Request) -> ResponseCache:
    """The application's response cache."""
    cache: ResponseCache = request.app.state.cache
    return cache


async def get_app_settings(request: Request) -> Settings:
    """The settings the running application was created with."""
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
CacheDep = Annotated[ResponseCache, Depends(get_response_cache)]
