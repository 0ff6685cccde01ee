"""Application factory: settings, database, middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cryptopredict import __version__
from cryptopredict.auth.router import auth_router, users_router
from cryptopredict.auth.throttle import FailureCounter, MemoryFailureCounter, RedisFailureCounter
from cryptopredict.coins.router import router as coins_router
from cryptopredict.core.cache import RedisCache, create_cache
from cryptopredict.core.config import Settings, get_settings
from cryptopredict.core.database import Database
from cryptopredict.core.errors import (
    ErrorShape,
    ErrorShapes,
    error_responses,
    install_error_handlers,
)
from cryptopredict.core.http_protocol import LimitedHttpToolsProtocol
from cryptopredict.core.middleware import (
    CachedResponseMiddleware,
    ControlCharacterMiddleware,
    HeadAsGetMiddleware,
    RequestLimitsMiddleware,
    SecurityHeadersMiddleware,
)
from cryptopredict.core.openapi import EDGE_STATUSES, install_openapi, operation_id
from cryptopredict.core.redis import connect_redis
from cryptopredict.core.request_metrics import RequestMetricsMiddleware
from cryptopredict.core.routing import install_routing_rules
from cryptopredict.forecasting import router as forecasting_routes
from cryptopredict.forecasting.router import forecasts_router, models_router, monitoring_router
from cryptopredict.health.router import api_router as system_router
from cryptopredict.health.router import router as health_router
from cryptopredict.marketdata.mirror import MIRROR_PREFIX, cache_alias
from cryptopredict.marketdata.mirror import router as mirror_router
from cryptopredict.marketdata.mirror_queries import MirrorRequestError, control_character_refusal
from cryptopredict.marketdata.router import public_router as sync_public_router
from cryptopredict.marketdata.router import router as sync_runs_router
from cryptopredict.portfolios.router import router as portfolios_router
from cryptopredict.prices.router import router as prices_router
from cryptopredict.stream.router import router as stream_router
from cryptopredict.tasks import service as tasks_service
from cryptopredict.tasks.forecast_triggers import router as forecast_triggers_router
from cryptopredict.tasks.router import router as tasks_router
from cryptopredict.tasks.sync_triggers import router as sync_triggers_router
from cryptopredict.web.static import DashboardFiles

API_PREFIX = "/api/v1"

logger = logging.getLogger(__name__)


def _coingecko_error(status: int, _code: str, message: str, _details: Any) -> dict[str, Any]:
    """Any failure under the mirror, in CoinGecko's `{"error": message}` body."""
    return MirrorRequestError(status, message).body


ERROR_SHAPES = ErrorShapes(
    {
        MIRROR_PREFIX + "/": ErrorShape(
            body=_coingecko_error, control_character=control_character_refusal
        )
    }
)
"""The error shape of each path prefix, for every error path: the handlers, the middleware's
refusals and the HTTP protocol's."""


class HttpProtocol(LimitedHttpToolsProtocol):
    """The HTTP protocol `serve` runs uvicorn with: its refusals in the app's error shapes."""

    error_shapes = ERROR_SHAPES


def _api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, responses=error_responses(*EDGE_STATUSES))
    for router in (
        auth_router,
        users_router,
        coins_router,
        prices_router,
        portfolios_router,
        sync_triggers_router,
        forecasts_router,
        models_router,
        monitoring_router,
        sync_runs_router,
        sync_public_router,
        forecast_triggers_router,
        tasks_router,
        system_router,
        stream_router,
    ):
        api.include_router(router)
    return api


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    scheduler: bool | None = None,
) -> FastAPI:
    """Build the ASGI application; tests pass their own settings and database.

    `scheduler`: run the embedded task scheduler while the app runs; None follows the
    settings (`tasks.service.should_schedule`).
    """
    settings = settings or get_settings()
    run_scheduler = tasks_service.should_schedule(settings) if scheduler is None else scheduler
    database = database or Database.from_settings(settings)
    redis_client = connect_redis(settings.redis_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        logger.info(
            "CryptoPredict %s starting (%s, %s, redis=%s)",
            __version__,
            settings.env,
            "sqlite" if settings.is_sqlite else "postgresql",
            bool(redis_client),
        )
        # Everything imported so far lives as long as the process: keep it out of the
        # collector's full passes, whose pauses otherwise show in the latency tail.
        gc.collect()
        gc.freeze()
        if run_scheduler:
            tasks_service.start_scheduler(app.state, settings)
        yield
        await asyncio.to_thread(tasks_service.shutdown, app.state)
        if isinstance(cache, RedisCache):
            await cache.aclose()
        database.dispose()
        if redis_client is not None:
            redis_client.close()

    app = FastAPI(
        title="CryptoPredict",
        version=__version__,
        description="Crypto market data, honest forecasts and portfolios.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.redis = redis_client
    throttle: FailureCounter = (
        RedisFailureCounter(redis_client) if redis_client else MemoryFailureCounter()
    )
    app.state.login_throttle = throttle
    cache = create_cache(settings.redis_url, ttl_seconds=settings.cache_ttl_seconds)
    app.state.cache = cache

    install_error_handlers(app, ERROR_SHAPES)
    install_routing_rules(app)
    if settings.web_dir is not None:
        app.router.default = DashboardFiles(settings.web_dir, fallback=app.router.default)
    # Innermost, so a body served from the cache gets the same headers as one from a route.
    app.add_middleware(
        CachedResponseMiddleware,
        cache=lambda: app.state.cache,
        alias=cache_alias,
        prefix=MIRROR_PREFIX + "/",
    )
    app.add_middleware(
        CachedResponseMiddleware,
        cache=lambda: app.state.cache,
        alias=forecasting_routes.cache_alias,
        prefix=API_PREFIX + forecasts_router.prefix + "/",
    )
    # Outside the cache, so a HEAD is answered from it as its GET is.
    app.add_middleware(HeadAsGetMiddleware)
    # Outside the cache, so no control character reaches its fast path; inside the size limit.
    app.add_middleware(ControlCharacterMiddleware, shapes=ERROR_SHAPES)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_url_bytes=settings.max_url_bytes,
        max_header_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes,
        shapes=ERROR_SHAPES,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env == "production")
    # Outermost, so every answer is counted, those given before routing included.
    app.add_middleware(RequestMetricsMiddleware, routes=lambda: app.router.routes)

    app.include_router(health_router, responses=error_responses(*EDGE_STATUSES))
    app.include_router(_api_router())
    app.include_router(mirror_router)
    install_openapi(app, native_prefixes=("/health/", API_PREFIX + "/"))
    return app
