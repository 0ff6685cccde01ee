"""What every one-shot command shares: settings, logging, the migrated database, progress.

Exit codes: 0 success, 1 failure, 2 invalid input. Secrets never reach the terminal:
database passwords are masked and the signing key is never printed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TextIO

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from cryptopredict.core import migrations
from cryptopredict.core.config import InsecureConfigurationError, Settings
from cryptopredict.core.database import Database

logger = logging.getLogger("cryptopredict.cli")

MIGRATE_HELP = "Apply pending schema migrations first (idempotent)."
"""Help of every command's `--migrate/--no-migrate` flag."""


def progress_bar(console: Console) -> Progress:
    """A progress bar on stderr, shown only on a terminal."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    )


@contextmanager
def labelled_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback drawing one bar per label on stderr."""
    with progress_bar(Console(stderr=True)) as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=done, total=total)

        yield on_progress


def fail(message: str, code: int = 1) -> NoReturn:
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


LOG_HANDLER = _StderrHandler()
"""The root handler the commands install; `serve` removes it before uvicorn logs."""
LOG_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


def parse_log_level(name: str) -> str:
    """The configured level name, refused early when logging would not understand it."""
    level = name.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        fail(f"CRYPTOPREDICT_LOG_LEVEL {name!r} is not a logging level", code=2)
    return level


def configure_logging(level: str, *, quiet_migrations: bool = False) -> None:
    """Send application logs to stderr at the configured level (installed once)."""
    root = logging.getLogger()
    if LOG_HANDLER not in root.handlers:
        root.addHandler(LOG_HANDLER)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING if quiet_migrations else level)


def load_settings() -> Settings:
    """Settings from the environment, read afresh; a bad configuration is a clear error."""
    try:
        return Settings()
    except InsecureConfigurationError as exc:
        fail(str(exc), code=2)
    except ValidationError as exc:
        problems = "; ".join(
            f"CRYPTOPREDICT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        fail(f"invalid configuration: {problems}", code=2)


def _first_line(exc: BaseException) -> str:
    """The informative first line of a driver error, without SQL or parameters."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def database_errors(url: str) -> Iterator[None]:
    """Turn unreachable databases and bad revisions into one line instead of a traceback."""
    try:
        yield
    except DBAPIError as exc:
        fail(f"database {mask_url(url)}: {_first_line(exc)}")
    except CommandError as exc:
        fail(f"migration: {exc}")


def migrate_schema(url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`, saying which database (password masked)."""
    logger.info("Migrating %s to %s", mask_url(url), revision)
    with database_errors(url):
        migrations.upgrade(url, revision)


def open_database(*, migrate: bool) -> tuple[Settings, Database, str]:
    """Settings, logging and the database of a one-shot command, migrated first if asked."""
    settings = load_settings()
    configure_logging(parse_log_level(settings.log_level), quiet_migrations=True)
    url = settings.resolved_database_url
    if migrate:
        migrate_schema(url)
    return settings, Database.from_settings(settings), url
