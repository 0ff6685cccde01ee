"""`cryptopredict sync ...`: fetch the coin catalogue, latest prices and history from CoinGecko."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from cryptopredict.cli.common import (
    MIGRATE_HELP,
    database_errors,
    labelled_progress,
    open_database,
)
from cryptopredict.core.cache import RedisCache, create_cache
from cryptopredict.marketdata import service as marketdata_service
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import DEFAULT_HISTORY_DAYS, ProgressCallback, SyncStatus
from cryptopredict.prices import importer
from cryptopredict.prices.types import Interval

app = typer.Typer(
    help="Fetch market data from CoinGecko (configured by CRYPTOPREDICT_COINGECKO_*).",
    no_args_is_help=True,
)


def _run_sync(action: marketdata_service.SyncCall, *, migrate: bool) -> None:
    """Open the database, cache and client, run one sync with progress bars, report it.

    Exit code 1 when the run failed; a partial run (some history not available to this
    plan) succeeds with a note.
    """
    settings, database, url = open_database(migrate=migrate)
    cache = create_cache(settings.redis_url, ttl_seconds=settings.cache_ttl_seconds)
    started = time.perf_counter()

    async def go(session: Session, on_progress: ProgressCallback) -> SyncRun:
        guards = marketdata_service.Guards.from_settings(settings)
        try:
            async with marketdata_service.open_client(settings, guards) as client:
                return await action(
                    session=session,
                    client=client,
                    cache=cache,
                    settings=settings,
                    on_progress=on_progress,
                )
        finally:
            await guards.aclose()
            if isinstance(cache, RedisCache):
                await cache.aclose()

    try:
        with (
            database_errors(url),
            database.session_factory() as session,
            labelled_progress() as on_progress,
        ):
            run = asyncio.run(go(session, on_progress))
    finally:
        database.dispose()
    what = f"Sync {run.kind} #{run.id}" + (f" ({run.coin})" if run.coin else "")
    typer.echo(
        f"{what} {run.status}: {run.calls_made} call(s), {run.rows_written} row(s) written "
        f"in {time.perf_counter() - started:.2f} s."
    )
    if run.error:
        typer.echo(
            f"{'Error' if run.status == SyncStatus.FAILED else 'Note'}: {run.error}", err=True
        )
    if run.status == SyncStatus.FAILED:
        raise typer.Exit(1)


@app.command("discover")
def sync_discover(
    top: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=5000,
            help="How many coins by market cap (default CRYPTOPREDICT_SYNC_TOP_COINS).",
        ),
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Add or update the top coins by market cap in the catalogue."""
    _run_sync(partial(marketdata_service.discover, top=top), migrate=migrate)


@app.command("prices")
def sync_prices(
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Store the latest price of every active coin (one call per 250 coins)."""
    _run_sync(marketdata_service.sync_prices, migrate=migrate)


@app.command("history")
def sync_history(
    coin: Annotated[
        str | None,
        typer.Option(help="CoinGecko id of one coin (added if new). Default: every active coin."),
    ] = None,
    days: Annotated[
        int,
        typer.Option(
            min=1,
            max=3650,
            help="How far back. A demo key reaches 365 days; older history comes from "
            "`import-prices`.",
        ),
    ] = DEFAULT_HISTORY_DAYS,
    interval: Annotated[
        list[Interval] | None,
        typer.Option(help="Only these intervals (repeatable). Default: 5m, 1h and 1d."),
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=MIGRATE_HELP)] = True,
) -> None:
    """Fill the missing history of one coin, or every active coin; a rerun fetches only gaps."""
    if coin is not None:
        try:
            coin = importer.normalise_coin_id(coin)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--coin") from None
    action = partial(
        marketdata_service.sync_history, coin=coin, days=days, intervals=interval or None
    )
    _run_sync(action, migrate=migrate)
