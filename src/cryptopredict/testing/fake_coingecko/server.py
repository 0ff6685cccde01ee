"""The fake CoinGecko as an ASGI app, served in a background thread for tests and benchmarks
or in the foreground for `cryptopredict fake-coingecko`."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from cryptopredict.snapshot import PRICES_DIR
from cryptopredict.testing.fake_coingecko.controls import (
    FakeControls,
    FaultController,
    RequestRecord,
)
from cryptopredict.testing.fake_coingecko.data import default_recordings_dir, load_fake_data
from cryptopredict.testing.fake_coingecko.routes import API_PREFIX, fake_routes, not_found


def create_fake_app(
    data_dir: Path | None = None,
    recordings_dir: Path | None = None,
    *,
    now: dt.datetime | None = None,
    require_key: bool = False,
    keyless_history_days: int | None = None,
) -> Starlette:
    """The fake CoinGecko as an ASGI app; its controls are at `app.state.controls`.

    Args:
        data_dir: folder of `<coingecko-id>.csv` daily price files; None for the snapshot
            bundled with the package.
        recordings_dir: folder of recorded CoinGecko responses; None for
            `default_recordings_dir()` (and the bundled catalogue if there is none).
        now: the fake's clock; None for the day after the last CSV day, 00:00 UTC.
        require_key: answer 401 (10002) to requests without an API key.
        keyless_history_days: limit keyless callers' history like a Demo key's (None: no
            limit, so a keyless sync can backfill everything).
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    recordings = recordings_dir if recordings_dir is not None else default_recordings_dir()
    data = load_fake_data(
        data_dir.resolve() if data_dir else None, recordings.resolve() if recordings else None
    )
    app = Starlette(routes=fake_routes(), exception_handlers={404: not_found})
    app.state.controls = FakeControls(
        data, now=now, require_key=require_key, keyless_history_days=keyless_history_days
    )
    return app


class FakeCoinGecko:
    """A running fake: where it listens and the switches tests use."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.controls: FakeControls = app.state.controls

    @property
    def base_url(self) -> str:
        """The API root to configure as `coingecko_base_url`."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def faults(self) -> FaultController:
        """Switch misbehaviour on for the next responses."""
        return self.controls.faults

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received since the last reset, oldest first."""
        return self.controls.log.all()

    def requests_to(self, endpoint: str) -> list[RequestRecord]:
        """Requests whose endpoint (path after /api/v3) contains `endpoint`."""
        return self.controls.log.all(endpoint)

    @property
    def now(self) -> dt.datetime:
        """The fake's clock."""
        return self.controls.now

    @now.setter
    def now(self, value: dt.datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.controls.now = value

    @property
    def require_key(self) -> bool:
        """Whether requests without an API key get 401."""
        return self.controls.require_key

    @require_key.setter
    def require_key(self, value: bool) -> None:
        self.controls.require_key = value

    def reset(self) -> None:
        """Faults cleared, log emptied, clock and key rules as created."""
        self.controls.reset()


def _free_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def running_fake_coingecko(
    data_dir: Path | None = None,
    recordings_dir: Path | None = None,
    *,
    host: str = "127.0.0.1",
    now: dt.datetime | None = None,
    require_key: bool = False,
    keyless_history_days: int | None = None,
    startup_timeout: float = 10.0,
) -> Iterator[FakeCoinGecko]:
    """Serve the fake with uvicorn in a background thread on a free port until the block ends."""
    app = create_fake_app(
        data_dir,
        recordings_dir,
        now=now,
        require_key=require_key,
        keyless_history_days=keyless_history_days,
    )
    sock = _free_socket(host)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-coingecko", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the fake CoinGecko server did not start")
        time.sleep(0.01)
    try:
        yield FakeCoinGecko(app, host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_fake(host: str = "127.0.0.1", port: int = 8001, data_dir: Path | None = None) -> None:
    """Serve the fake CoinGecko in the foreground (`cryptopredict fake-coingecko`) until Ctrl-C."""
    app = create_fake_app(data_dir)
    controls: FakeControls = app.state.controls
    print(  # the command's own output, whatever logging is configured
        f"Fake CoinGecko at http://{host}:{port}{API_PREFIX}: {len(controls.data.series)} "
        f"coins from {data_dir or PRICES_DIR}, clock fixed at {controls.now.isoformat()}"
    )
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
