"""`cryptopredict serve`: migrate, then run the HTTP API under uvicorn (and, when configured,
the metrics listener)."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cryptopredict.cli.common import (
    LOG_HANDLER,
    MIGRATE_HELP,
    configure_logging,
    fail,
    load_settings,
    logger,
    mask_url,
    migrate_schema,
    parse_log_level,
)
from cryptopredict.core import metrics
from cryptopredict.core.config import Settings
from cryptopredict.web.static import SHELL, checkout_export

app = typer.Typer()


def _uvicorn_log_config(level: str) -> dict[str, Any]:
    """Uvicorn's own logging setup, extended so the app's loggers reach every worker."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cryptopredict"] = {"handlers": ["default"], "level": level}
    config["loggers"]["alembic"] = {"handlers": ["default"], "level": level}
    return config


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind; keep loopback unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (about one per core).")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Apply pending migrations, then serve the HTTP API with uvicorn."""
    settings = _with_dashboard(load_settings())
    level = parse_log_level(settings.log_level)
    configure_logging(level)
    url = settings.resolved_database_url
    if migrate:
        migrate_schema(url)
    logger.info(
        "Serving CryptoPredict (%s) on %s:%d, %d worker(s), database %s",
        settings.env,
        host,
        port,
        workers,
        mask_url(url),
    )
    # Every worker (and the embedded scheduler) records into this run's metrics files.
    metrics.enable_multiprocess(settings.data_dir.resolve() / "metrics", "serve")
    stop_listener = _start_metrics_listener(settings.metrics_listen_address)
    # The root handler would print uvicorn's records twice once its own config is applied.
    logging.getLogger().removeHandler(LOG_HANDLER)
    try:
        _run_uvicorn(settings, host, port, workers, level, access_log)
    finally:
        stop_listener()


def _with_dashboard(settings: Settings) -> Settings:
    """The settings with the checkout's dashboard export when none is configured and it is
    built; the workers read it from the environment, as every setting."""
    if settings.web_dir is not None:
        if not (settings.web_dir / SHELL).is_file():
            logger.warning("CRYPTOPREDICT_WEB_DIR %s holds no %s", settings.web_dir, SHELL)
        return settings
    export = checkout_export()
    if not (export / SHELL).is_file():
        logger.info("No dashboard build at %s: serving the API only", export)
        return settings
    os.environ["CRYPTOPREDICT_WEB_DIR"] = str(export)
    return settings.model_copy(update={"web_dir": export})


def _start_metrics_listener(address: tuple[str, int] | None) -> Callable[[], None]:
    """The metrics listener on `address`, or nothing; the function that stops it."""
    if address is None:
        return lambda: None
    try:
        stop = metrics.start_listener(address)
    except OSError as exc:
        fail(f"cannot serve metrics on {address[0]}:{address[1]}: {exc.strerror or exc}")
    logger.info("Serving Prometheus metrics on %s:%d (no authentication)", *address)
    return stop


def _run_uvicorn(
    settings: Settings, host: str, port: int, workers: int, level: str, access_log: bool
) -> None:
    import uvicorn

    uvicorn.run(
        "cryptopredict.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_uvicorn_log_config(level),
        log_level=level.lower(),
        access_log=access_log,
        server_header=False,
        # httptools, refusing oversized request heads and malformed HTTP in JSON.
        http="cryptopredict.main:HttpProtocol",
        # uvloop, taking bursts of new connections in batches rather than one per iteration.
        loop="cryptopredict.core.event_loop:BatchAcceptLoop",
        # Proxy headers only from the proxies named in settings (uvicorn trusts loopback by
        # default, which would let any local client pick its own address).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # Workers import the whole app before answering the supervisor's health pings; on a
        # small, busy host that can take longer than uvicorn's 5 s default.
        timeout_worker_healthcheck=30,
    )


@app.command("openapi")
def print_openapi() -> None:
    """Print the OpenAPI document the server serves at /openapi.json (the dashboard's API
    client is generated from it: `npm run api:generate` in frontend/)."""
    from cryptopredict.main import create_app  # noqa: PLC0415 - only this command needs the app

    typer.echo(json.dumps(create_app(Settings()).openapi(), indent=1, sort_keys=True))
