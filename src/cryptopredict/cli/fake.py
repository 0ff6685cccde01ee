"""`cryptopredict fake-coingecko`: an offline CoinGecko stand-in for tests and demos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


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
    from cryptopredict.testing.fake_coingecko.server import serve_fake

    serve_fake(host, port, data_dir)
