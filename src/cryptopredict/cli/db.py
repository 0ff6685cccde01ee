"""`cryptopredict db ...`: inspect and migrate the database schema with Alembic."""

from __future__ import annotations

from typing import Annotated

import typer
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from cryptopredict.cli.common import (
    configure_logging,
    database_errors,
    load_settings,
    logger,
    mask_url,
    migrate_schema,
    parse_log_level,
)
from cryptopredict.core import migrations
from cryptopredict.core.database import create_db_engine

app = typer.Typer(help="Inspect and migrate the database schema.", no_args_is_help=True)


def _schema_state(url: str) -> list[str]:
    """One line per revision the database is at, saying whether it is the newest."""
    heads = set(ScriptDirectory.from_config(migrations.alembic_config(url)).get_heads())
    engine = create_db_engine(url)
    try:
        with database_errors(url), engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    if not current:
        return ["none (empty schema; run `cryptopredict db upgrade`)"]
    return [
        f"{revision} ({'head' if revision in heads else 'behind head ' + ', '.join(heads)})"
        for revision in current
    ]


@app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = load_settings()
    configure_logging(parse_log_level(settings.log_level))
    url = settings.resolved_database_url
    migrate_schema(url, revision)
    typer.echo("Schema now at " + "; ".join(_schema_state(url)))


@app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, `base`, or relative as `-- -1`.")
    ],
) -> None:
    """Revert migrations down to REVISION (`base` empties the schema)."""
    settings = load_settings()
    configure_logging(parse_log_level(settings.log_level))
    url = settings.resolved_database_url
    logger.info("Downgrading %s to %s", mask_url(url), revision)
    with database_errors(url):
        migrations.downgrade(url, revision)
    typer.echo("Schema now at " + "; ".join(_schema_state(url)))


@app.command("current")
def db_current() -> None:
    """Show the revision the database is at and whether it is the newest."""
    settings = load_settings()
    configure_logging(parse_log_level(settings.log_level), quiet_migrations=True)
    for line in _schema_state(settings.resolved_database_url):
        typer.echo(line)


@app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the migration does.")],
) -> None:
    """Autogenerate a migration from the models (developers; review it before committing)."""
    settings = load_settings()
    configure_logging(parse_log_level(settings.log_level))
    url = settings.resolved_database_url
    with database_errors(url):
        migrations.revision(url, message)
