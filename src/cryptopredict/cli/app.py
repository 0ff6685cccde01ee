"""The root `cryptopredict` command: registers each command group's module, in help order.

Thin by design: commands parse arguments, open a session and call the services.
"""

from __future__ import annotations

import typer

from cryptopredict.cli import db, fake, forecasting, prices, serve, sync, users, workers

app = typer.Typer(
    name="cryptopredict",
    help="CryptoPredict: crypto market data, honest forecasts and portfolios.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold passwords
)
for commands in (serve, users, prices, fake, workers, forecasting):
    app.add_typer(commands.app)
app.add_typer(db.app, name="db")
app.add_typer(sync.app, name="sync")
