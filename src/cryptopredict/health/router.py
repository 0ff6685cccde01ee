"""Liveness, readiness, version, system stats and Prometheus metrics."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Literal

import psutil
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import text

from cryptopredict import __version__
from cryptopredict.auth.dependencies import AdminUser
from cryptopredict.core.database import Database
from cryptopredict.core.dependencies import SettingsDep
from cryptopredict.core.errors import error_responses
from cryptopredict.core.metrics import CONTENT_TYPE, exposition
from cryptopredict.core.redis import redis_is_up
from cryptopredict.marketdata.schemas import BreakerSnapshot
from cryptopredict.marketdata.service import app_guards

router = APIRouter(tags=["health"])
api_router = APIRouter(prefix="/system", tags=["health"])

_STARTED_AT = time.monotonic()

CheckState = Literal["ok", "down", "disabled"]


class Liveness(BaseModel):
    """The process is up and serving."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether each backing service answers, and the CoinGecko circuit breaker's state
    (informational: an open breaker does not stop us serving what we have stored)."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckState]
    coingecko_breaker: BreakerSnapshot | None = None


class VersionInfo(BaseModel):
    """What is running."""

    name: str
    version: str
    python: str
    environment: str
    database: str
    redis: bool


class SystemStats(BaseModel):
    """Resource use of this server process and its host."""

    uptime_seconds: float
    pid: int
    cpu_count: int
    load_average: list[float]
    process_rss_bytes: int
    memory_total_bytes: int
    memory_available_bytes: int
    disk_free_bytes: int


def database_is_up(database: Database) -> bool:
    """Whether a trivial query succeeds right now."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means not ready, whatever the driver raised
        return False


@router.get("/health/live")
def live() -> Liveness:
    """Liveness: answers as long as the process runs; touches no backing service."""
    return Liveness()


@router.get("/health/ready", responses={503: {"model": Readiness}})
def ready(request: Request, settings: SettingsDep) -> Any:
    """Readiness: the database answers and, when configured, Redis does too."""
    checks: dict[str, CheckState] = {
        "database": "ok" if database_is_up(request.app.state.database) else "down",
        "redis": "disabled",
    }
    if settings.redis_url:
        checks["redis"] = "ok" if redis_is_up(request.app.state.redis) else "down"
    is_ready = all(state != "down" for state in checks.values())
    breaker = app_guards(request.app.state, settings).breaker.snapshot_blocking()
    body = Readiness(
        status="ready" if is_ready else "not_ready", checks=checks, coingecko_breaker=breaker
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if is_ready else 503)


@api_router.get("/version")
def version(settings: SettingsDep) -> VersionInfo:
    """Version and deployment facts (no secrets)."""
    return VersionInfo(
        name="cryptopredict",
        version=__version__,
        python=platform.python_version(),
        environment=settings.env,
        database="sqlite" if settings.is_sqlite else "postgresql",
        redis=bool(settings.redis_url),
    )


@api_router.get("/stats", responses=error_responses(401, 403))
def system_stats(_admin: AdminUser, settings: SettingsDep) -> SystemStats:
    """Host and process resource figures (admin only)."""
    memory = psutil.virtual_memory()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SystemStats(
        uptime_seconds=round(time.monotonic() - _STARTED_AT, 3),
        pid=os.getpid(),
        cpu_count=psutil.cpu_count() or 1,
        load_average=list(os.getloadavg()),
        process_rss_bytes=psutil.Process().memory_info().rss,
        memory_total_bytes=memory.total,
        memory_available_bytes=memory.available,
        disk_free_bytes=psutil.disk_usage(str(settings.data_dir)).free,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Metrics in the Prometheus text format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 403, 503),
    },
)
def metrics(_admin: AdminUser) -> Response:
    """Prometheus metrics of every process of this server, and of the task workers sharing
    its data directory (admin only; `CRYPTOPREDICT_METRICS_ADDRESS` serves the same without
    authentication, for a scraper on a private network)."""
    return Response(exposition(), media_type=CONTENT_TYPE)
