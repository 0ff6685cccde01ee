"""The `cryptopredict` command: serve the API, migrate the schema, add admins, import prices.

Thin by design: commands parse arguments, open a session and call core.migrations,
auth.service and prices.importer. Exit codes: 0 success, 1 failure, 2 invalid input.
Secrets never reach the terminal: database passwords are masked and the signing key is
never printed.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import typer
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from pydantic import EmailStr, TypeAdapter, ValidationError
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from cryptopredict.auth import service as auth_service
from cryptopredict.auth.models import Role
from cryptopredict.auth.schemas import UserCreate
from cryptopredict.core import migrations
from cryptopredict.core.cache import RedisCache, create_cache
from cryptopredict.core.config import InsecureConfigurationError, Settings
from cryptopredict.core.database import Database, create_db_engine
from cryptopredict.core.errors import ConflictError
from cryptopredict.marketdata import service as marketdata_service
from cryptopredict.marketdata.models import SyncRun
from cryptopredict.marketdata.types import DEFAULT_HISTORY_DAYS, ProgressCallback, SyncStatus
from cryptopredict.prices import importer
from cryptopredict.prices.types import Interval
from cryptopredict.snapshot import snapshot_price_files

logger = logging.getLogger("cryptopredict.cli")

app = typer.Typer(
    name="cryptopredict",
    help="CryptoPredict: crypto market data, honest forecasts and portfolios.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold passwords
)
db_app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _progress(console: Console) -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    )


@contextmanager
def _labelled_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback drawing one bar per label on stderr."""
    with _progress(Console(stderr=True)) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done, total=total)

        yield on_progress


_EMAIL = TypeAdapter(EmailStr)
_MIGRATE_HELP = "Apply pending schema migrations first (idempotent)."


class IntervalChoice(StrEnum):
    """`--interval` values: a stored bar width, or `auto` to read it from the file."""

    AUTO = "auto"
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"


# ---- plumbing ---------------------------------------------------------------------------


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and leave with `code`, never a traceback."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def mask_url(url: str) -> str:
    """The database URL with its password replaced by ***, fit for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable database URL>"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record arrives, so redirections are honoured."""

    def emit(self, record: logging.LogRecord) -> None:
        """Re-resolve the stream, then write as usual."""
        self.stream = sys.stderr
        super().emit(record)


_LOG_HANDLER = _StderrHandler()
_LOG_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


def _log_level(name: str) -> str:
    """The configured level name, refused early when logging would not understand it."""
    level = name.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        _fail(f"CRYPTOPREDICT_LOG_LEVEL {name!r} is not a logging level", code=2)
    return level


def _configure_logging(level: str, *, quiet_migrations: bool = False) -> None:
    """Send application logs to stderr at the configured level (installed once)."""
    root = logging.getLogger()
    if _LOG_HANDLER not in root.handlers:
        root.addHandler(_LOG_HANDLER)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING if quiet_migrations else level)


def _settings() -> Settings:
    """Settings from the environment, read afresh; a bad configuration is a clear error."""
    try:
        return Settings()
    except InsecureConfigurationError as exc:
        _fail(str(exc), code=2)
    except ValidationError as exc:
        problems = "; ".join(
            f"CRYPTOPREDICT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        _fail(f"invalid configuration: {problems}", code=2)


def _first_line(exc: BaseException) -> str:
    """The informative first line of a driver error, without SQL or parameters."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn unreachable databases and bad revisions into one line instead of a traceback."""
    try:
        yield
    except DBAPIError as exc:
        _fail(f"database {mask_url(url)}: {_first_line(exc)}")
    except CommandError as exc:
        _fail(f"migration: {exc}")


def _migrate(url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`, saying which database (password masked)."""
    logger.info("Migrating %s to %s", mask_url(url), revision)
    with _database_errors(url):
        migrations.upgrade(url, revision)


def _open_database(*, migrate: bool) -> tuple[Settings, Database, str]:
    """Settings, logging and the database of a one-shot command, migrated first if asked."""
    settings = _settings()
    _configure_logging(_log_level(settings.log_level), quiet_migrations=True)
    url = settings.resolved_database_url
    if migrate:
        _migrate(url)
    return settings, Database.from_settings(settings), url


def _uvicorn_log_config(level: str) -> dict[str, Any]:
    """Uvicorn's own logging setup, extended so the app's loggers reach every worker."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["cryptopredict"] = {"handlers": ["default"], "level": level}
    config["loggers"]["alembic"] = {"handlers": ["default"], "level": level}
    return config


# ---- serve ------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Interface to bind; keep loopback unless behind a proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (about one per core).")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Apply pending migrations, then serve the HTTP API with uvicorn."""
    import uvicorn

    settings = _settings()
    level = _log_level(settings.log_level)
    _configure_logging(level)
    url = settings.resolved_database_url
    if migrate:
        _migrate(url)
    logger.info(
        "Serving CryptoPredict (%s) on %s:%d, %d worker(s), database %s",
        settings.env,
        host,
        port,
        workers,
        mask_url(url),
    )
    # The root handler would print uvicorn's records twice once its own config is applied.
    logging.getLogger().removeHandler(_LOG_HANDLER)
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
        # Workers import the whole app before answering the supervisor's health pings; on a
        # small, busy host that can take longer than uvicorn's 5 s default.
        timeout_worker_healthcheck=30,
    )


# ---- db ---------------------------------------------------------------------------------


def _schema_state(url: str) -> list[str]:
    """One line per revision the database is at, saying whether it is the newest."""
    heads = set(ScriptDirectory.from_config(migrations.alembic_config(url)).get_heads())
    engine = create_db_engine(url)
    try:
        with _database_errors(url), engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    if not current:
        return ["none (empty schema; run `cryptopredict db upgrade`)"]
    return [
        f"{revision} ({'head' if revision in heads else 'behind head ' + ', '.join(heads)})"
        for revision in current
    ]


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = _settings()
    _configure_logging(_log_level(settings.log_level))
    url = settings.resolved_database_url
    _migrate(url, revision)
    typer.echo("Schema now at " + "; ".join(_schema_state(url)))


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, `base`, or relative as `-- -1`.")
    ],
) -> None:
    """Revert migrations down to REVISION (`base` empties the schema)."""
    settings = _settings()
    _configure_logging(_log_level(settings.log_level))
    url = settings.resolved_database_url
    logger.info("Downgrading %s to %s", mask_url(url), revision)
    with _database_errors(url):
        migrations.downgrade(url, revision)
    typer.echo("Schema now at " + "; ".join(_schema_state(url)))


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at and whether it is the newest."""
    settings = _settings()
    _configure_logging(_log_level(settings.log_level), quiet_migrations=True)
    for line in _schema_state(settings.resolved_database_url):
        typer.echo(line)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does.")],
) -> None:
    """Autogenerate a migration from the models (developers; review it before committing)."""
    settings = _settings()
    _configure_logging(_log_level(settings.log_level))
    url = settings.resolved_database_url
    with _database_errors(url):
        migrations.revision(url, message)


# ---- create-admin -----------------------------------------------------------------------


def _validation_problems(exc: ValidationError) -> str:
    """Field and reason for each problem, never the rejected value (it may be a password)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}"
        for e in exc.errors(include_input=False)
    )


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="Email address the admin logs in with.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="CRYPTOPREDICT_ADMIN_PASSWORD",
            show_envvar=True,
            help="At least 8 characters. Omit it to be asked (hidden, twice): "
            "a password on the command line ends up in shell history.",
        ),
    ] = None,
    full_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
) -> None:
    """Create an admin account, or promote the existing account with this email to admin."""
    try:
        email = _EMAIL.validate_python(email.strip()).lower()
    except ValidationError as exc:
        _fail(f"invalid email {email!r}: {exc.errors(include_input=False)[0]['msg']}", code=2)
    settings, database, url = _open_database(migrate=migrate)
    try:
        with _database_errors(url), database.session_factory() as session:
            user = auth_service.get_by_email(session=session, email=email)
            if user is not None:
                if password is not None:
                    typer.echo("Note: the account exists; its password was not changed.")
                if not auth_service.promote_to_admin(session=session, user=user):
                    typer.echo(f"{email} is already an admin (id {user.id}).")
                    return
                typer.echo(f"Promoted {email} (id {user.id}) to admin.")
                if not user.is_active:
                    typer.echo("Note: the account is deactivated; activate it to log in.")
                return
            session.rollback()  # hold no transaction open while someone types
            if password is None:
                password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
            try:
                data = UserCreate(email=email, password=password, full_name=full_name)
            except ValidationError as exc:
                _fail(_validation_problems(exc), code=2)
            try:
                user = auth_service.create(session=session, data=data, role=Role.ADMIN)
            except ConflictError as exc:
                _fail(exc.message)
            typer.echo(f"Created admin {email} (id {user.id}).")
    finally:
        database.dispose()


# ---- import-prices ----------------------------------------------------------------------


def _import_paths(files: list[Path] | None, snapshot: bool, coin: str | None) -> list[Path]:
    """The files to import, or a usage error explaining what is missing or contradictory."""
    paths = list(files or [])
    if snapshot:
        paths.extend(snapshot_price_files())
    if not paths:
        raise typer.BadParameter("give one or more CSV files, or --snapshot", param_hint="CSV")
    if coin is not None and len(paths) > 1:
        raise typer.BadParameter("--coin applies to a single file only", param_hint="--coin")
    return paths


def _print_report(console: Console, report: importer.ImportReport) -> None:
    """Per-file figures, each failure with its file and line, then the overall rate."""
    if report.results:
        table = Table("File", "Coin", "Interval", "Read", "Written", "Seconds", "Rows/s")
        for result in report.results:
            table.add_row(
                result.path.name,
                result.coin,
                str(result.interval),
                str(result.rows_read),
                str(result.rows_written),
                f"{result.seconds:.3f}",
                f"{result.rows_per_second:,.0f}",
            )
        console.print(table)
    for failure in report.failures:
        typer.echo(f"Error: {failure.message} (nothing imported from this file)", err=True)
    done = len(report.results)
    typer.echo(
        f"Imported {done} of {done + len(report.failures)} file(s): {report.rows_read} rows "
        f"read, {report.rows_written} written in {report.seconds:.2f} s "
        f"({report.rows_per_second:,.0f} rows/s)."
    )


@app.command("import-prices")
def import_prices(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="CSV...",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Daily (`date,open,high,low,close,volume,market_cap`) or intraday "
            "(`timestamp,open,high,low,close,volume,...`) price files.",
        ),
    ] = None,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="Also import the bundled snapshot (daily prices of 6 coins up to "
            "2021-07-06; historical, not live).",
        ),
    ] = False,
    coin: Annotated[
        str | None,
        typer.Option(
            help="CoinGecko id of the coin (one file only). Default: the file name, "
            "so bitcoin.csv and bitcoin_1h.csv are bitcoin."
        ),
    ] = None,
    interval: Annotated[
        IntervalChoice,
        typer.Option(help="Bar width; auto: daily for `date` files, else from the file."),
    ] = IntervalChoice.AUTO,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Rows per upsert statement.")
    ] = importer.DEFAULT_BATCH_SIZE,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
) -> None:
    """Import price CSVs; each file is all-or-nothing and re-importing writes nothing."""
    paths = _import_paths(files, snapshot, coin)
    if coin is not None:
        try:
            coin = importer.normalise_coin_id(coin)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--coin") from None
    settings, database, url = _open_database(migrate=migrate)
    stdout, stderr = Console(), Console(stderr=True)
    try:
        with (
            _database_errors(url),
            database.session_factory() as session,
            _progress(stderr) as progress,
        ):
            tasks: dict[Path, TaskID] = {}

            def on_progress(path: Path, done: int, total: int) -> None:
                if path not in tasks:
                    tasks[path] = progress.add_task(path.name, total=total)
                progress.update(tasks[path], completed=done)

            report = importer.import_price_files(
                paths,
                session=session,
                coin=coin,
                interval=None if interval is IntervalChoice.AUTO else Interval(interval.value),
                batch_size=batch_size,
                on_progress=on_progress,
            )
    finally:
        database.dispose()
    _print_report(stdout, report)
    if not report.ok:
        raise typer.Exit(1)


# ---- sync -------------------------------------------------------------------------------

sync_app = typer.Typer(
    help="Fetch market data from CoinGecko (configured by CRYPTOPREDICT_COINGECKO_*).",
    no_args_is_help=True,
)
app.add_typer(sync_app, name="sync")


@app.command("fake-coingecko")
def fake_coingecko(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8001,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            exists=True,
            file_okay=False,
            help="Folder of <coingecko-id>.csv daily prices; default: the bundled snapshot.",
        ),
    ] = None,
) -> None:
    """Serve a fake CoinGecko API (recorded responses, real price histories) for tests and
    offline use; point CRYPTOPREDICT_COINGECKO_BASE_URL at http://HOST:PORT/api/v3."""
    from cryptopredict.marketdata.fake_server import serve_fake

    serve_fake(host, port, data_dir)


def _run_sync(action: marketdata_service.SyncCall, *, migrate: bool) -> None:
    """Open the database, cache and client, run one sync with progress bars, report it.

    Exit code 1 when the run failed; a partial run (some history not available to this
    plan) succeeds with a note.
    """
    settings, database, url = _open_database(migrate=migrate)
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
            _database_errors(url),
            database.session_factory() as session,
            _labelled_progress() as on_progress,
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


@sync_app.command("discover")
def sync_discover(
    top: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=5000,
            help="How many coins by market cap (default CRYPTOPREDICT_SYNC_TOP_COINS).",
        ),
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
) -> None:
    """Add or update the top coins by market cap in the catalogue."""
    _run_sync(partial(marketdata_service.discover, top=top), migrate=migrate)


@sync_app.command("prices")
def sync_prices(
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
) -> None:
    """Store the latest price of every active coin (one call per 250 coins)."""
    _run_sync(marketdata_service.sync_prices, migrate=migrate)


@sync_app.command("history")
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
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
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


# ---- background work (Celery) ----------------------------------------------------------

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


class PoolChoice(StrEnum):
    """`--pool` values: processes (time limits enforced) or one task at a time in-process."""

    PREFORK = "prefork"
    SOLO = "solo"
    THREADS = "threads"


def _celery_app(settings: Settings) -> Any:
    """The Celery app for these settings; without Redis there is nothing to run."""
    from cryptopredict.tasks.celery_app import CeleryNotConfiguredError, create_celery

    try:
        return create_celery(settings)
    except CeleryNotConfiguredError as exc:
        _fail(f"{exc}; without Redis, `cryptopredict serve` runs the schedule itself", code=2)


@app.command(context_settings=_PASS_THROUGH)
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Worker processes (tasks run at once).")
    ] = 2,
    loglevel: Annotated[
        str | None, typer.Option(help="Celery's log level (default CRYPTOPREDICT_LOG_LEVEL).")
    ] = None,
    pool: Annotated[PoolChoice, typer.Option(help="Execution pool.")] = PoolChoice.PREFORK,
    hostname: Annotated[
        str | None, typer.Option(help="Node name, unique per worker (default: PID@host).")
    ] = None,
) -> None:
    """Run a Celery worker for the background tasks (needs CRYPTOPREDICT_REDIS_URL); any
    further options go to `celery worker` as they are."""
    import os

    settings = _settings()
    level = _log_level(loglevel or settings.log_level)
    celery = _celery_app(settings)
    celery.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--pool={pool.value}",
            f"--loglevel={level}",
            f"--hostname={hostname or f'worker{os.getpid()}@%h'}",
            *ctx.args,
        ]
    )


@app.command(context_settings=_PASS_THROUGH)
def beat(
    ctx: typer.Context,
    loglevel: Annotated[
        str | None, typer.Option(help="Celery's log level (default CRYPTOPREDICT_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run Celery beat, which sends the periodic tasks of the schedule (needs
    CRYPTOPREDICT_REDIS_URL; its state lives in DATA_DIR/celerybeat-schedule). A second beat
    waits as a standby; any further options go to `celery beat` as they are."""
    settings = _settings()
    level = _log_level(loglevel or settings.log_level)
    celery = _celery_app(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery.start(["beat", f"--loglevel={level}", *ctx.args])


# ---- forecasting ------------------------------------------------------------------------


def _csv_list(value: str, what: str, *, cast: type = str) -> list[Any]:
    """A comma-separated option as a list; a bad item is a usage error naming the option."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise typer.BadParameter(f"give at least one {what}", param_hint=f"--{what}s")
    try:
        return [cast(item) for item in items]
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a list of {what}s", param_hint=f"--{what}s"
        ) from None


def _model_list(value: str | None) -> list[str] | None:
    """`--models`: kinds the engine ships, or None for all of them."""
    if value is None:
        return None
    from cryptopredict.forecasting.forecasters import FORECASTERS

    kinds = _csv_list(value, "model")
    unknown = [kind for kind in kinds if kind not in FORECASTERS]
    if unknown:
        raise typer.BadParameter(
            f"unknown model(s) {unknown}; choose from {sorted(FORECASTERS)}", param_hint="--models"
        )
    return kinds


def _horizon_list(value: str) -> list[int]:
    """`--horizons`: positive step counts."""
    horizons = _csv_list(value, "horizon", cast=int)
    if any(h < 1 for h in horizons):
        raise typer.BadParameter("horizons are positive step counts", param_hint="--horizons")
    return sorted(set(horizons))


def _fmt(value: Any, pattern: str = "{:.3f}") -> str:
    """A report figure for the table; blanks for undefined values."""
    return "" if value is None else pattern.format(value)


REPORT_WIDTH = 132
"""Width of report tables when stdout is not a terminal (pipes and logs get whole columns)."""


def _report_console() -> Console:
    """A stdout console that never truncates a report table when piped."""
    console = Console()
    return console if console.is_terminal else Console(width=REPORT_WIDTH)


def _print_backtest_table(console: Console, rows: list[dict[str, Any]]) -> None:
    """One line per coin x horizon x model; the selected model is marked with *."""
    table = Table(
        "Coin",
        "H",
        "Model",
        "MAE/naive",
        "MASE",
        "Dir. acc",
        "Always up",
        "DM p",
        "Cov 80",
        "Cov 95",
        "N",
        box=box.SIMPLE_HEAD,
    )
    for row in rows:
        table.add_row(
            row["coin"],
            str(row["horizon"]),
            row["model"] + (" *" if row["selected"] else ""),
            _fmt(row.get("relative_mae")),
            _fmt(row.get("mase")),
            _fmt(row.get("directional_accuracy"), "{:.1%}"),
            _fmt(row.get("always_up"), "{:.1%}"),
            _fmt(row.get("dm_pvalue")),
            _fmt(row.get("coverage_80"), "{:.1%}"),
            _fmt(row.get("coverage_95"), "{:.1%}"),
            str(row.get("n_forecasts", "")),
        )
    console.print(table)


_CSV_DIR_HELP = "Read <DIR>/<coin>.csv (daily CSVs as import-prices reads) instead of the database."


@app.command()
def backtest(
    coins: Annotated[str, typer.Option(help="Comma-separated CoinGecko ids.")],
    horizons: Annotated[str, typer.Option(help="Comma-separated horizons in days.")] = "1,7,30",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model kinds. Default: every model.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", exists=True, file_okay=False, help=_CSV_DIR_HELP)
    ] = None,
    report: Annotated[
        Path, typer.Option(help="JSON report to write; the chart goes beside it as .png.")
    ] = Path("backtest-report.json"),
) -> None:
    """Walk-forward backtest of models per coin and horizon against the naive forecast;
    prints a table and writes a JSON report and a PNG chart (selected model, 80/95 % bands)."""
    from cryptopredict.forecasting import training

    coin_ids = _csv_list(coins, "coin")
    horizon_list, kinds = _horizon_list(horizons), _model_list(models)
    frames: dict[str, Any] = {}
    if csv_dir is not None:
        for coin_id in coin_ids:
            try:
                frames[coin_id] = training.load_csv_prices(csv_dir, coin_id)
            except (OSError, ValueError) as exc:
                _fail(str(exc), code=2)
    else:
        frames = _frames_from_database(coin_ids)
    results = []
    with _labelled_progress() as on_progress:
        for coin_id, frame in frames.items():
            try:
                results.append(
                    training.backtest_coin(
                        frame,
                        coin=coin_id,
                        horizons=horizon_list,
                        models=kinds,
                        on_progress=on_progress,
                    )
                )
            except ValueError as exc:
                _fail(f"{coin_id}: {exc}")
    json_path, chart = training.write_report(report, results)
    _print_backtest_table(_report_console(), training.report(results)["results"])
    typer.echo(f"Wrote {json_path} and {chart}.")


def _frames_from_database(coin_ids: list[str]) -> dict[str, Any]:
    """Each coin's stored daily series, read through the forecasting service."""
    from cryptopredict.core.errors import NotFoundError
    from cryptopredict.forecasting import service as forecasting_service

    settings, database, url = _open_database(migrate=False)
    frames = {}
    try:
        with _database_errors(url), database.session_factory() as session:
            for coin_id in coin_ids:
                try:
                    coin = forecasting_service.resolve_coin(session=session, identifier=coin_id)
                    frames[coin_id] = forecasting_service.load_prices(session=session, coin=coin)
                except NotFoundError as exc:
                    _fail(exc.message)
    finally:
        database.dispose()
    return frames


@app.command()
def train(
    coin: Annotated[str, typer.Option(help="CoinGecko id (or symbol) of the coin.")],
    horizon: Annotated[
        list[int] | None,
        typer.Option(min=1, help="Horizon in days (repeatable). Default 1, 7, 30."),
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated model kinds. Default: every model.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", exists=True, file_okay=False, help=_CSV_DIR_HELP)
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help=_MIGRATE_HELP)] = True,
) -> None:
    """Backtest, select per horizon, refit on all data, calibrate intervals, register the
    versions under CRYPTOPREDICT_MODEL_DIR and promote the selected model per horizon."""
    from cryptopredict.core.errors import NotFoundError
    from cryptopredict.forecasting import registry, training
    from cryptopredict.forecasting import service as forecasting_service

    horizons = sorted(set(horizon or training.DEFAULT_HORIZONS))
    kinds = _model_list(models)
    frame = None
    if csv_dir is not None:
        try:
            frame = training.load_csv_prices(csv_dir, coin)
        except (OSError, ValueError) as exc:
            _fail(str(exc), code=2)
    settings, database, url = _open_database(migrate=migrate)
    try:
        with (
            _database_errors(url),
            database.session_factory() as session,
            _labelled_progress() as on_progress,
        ):
            try:
                found = forecasting_service.resolve_coin(
                    session=session, identifier=coin, create=frame is not None
                )
                if frame is None:
                    frame = forecasting_service.load_prices(session=session, coin=found)
                outcome = forecasting_service.train(
                    session=session,
                    settings=settings,
                    coin=found,
                    prices=frame,
                    horizons=horizons,
                    models=kinds,
                    on_progress=on_progress,
                )
            except NotFoundError as exc:
                _fail(exc.message)
            except (ValueError, registry.RegistryError) as exc:
                _fail(f"{coin}: {exc}")
            session.commit()
    finally:
        database.dispose()
    _print_backtest_table(_report_console(), training.report([outcome.result.backtest])["results"])
    for version in outcome.versions:
        typer.echo(
            f"{version.kind} h={version.horizon} v{version.version} {version.status}: "
            f"{version.artifact_path}"
        )


if __name__ == "__main__":
    app()
