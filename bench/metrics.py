"""Benchmark: what recording Prometheus metrics adds to each HTTP request, and what a scrape
costs, in a process in multiprocess mode as `serve`'s workers are (values in shared files).

The request is a trivial ASGI app answered in-process, so the figures are the middleware's own
cost without the server's or the network's noise; for comparison, the same counter and
histogram written once per request, as the middleware did before it batched its writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, BenchError, Section, clean_env

REQUESTS = 200_000
ROUNDS = 3
"""Each figure is the best of this many rounds (the least disturbed by the shared machine)."""
SCRAPES = 200


async def _app(_scope: Any, _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


async def _send(_message: Any) -> None:
    return None


async def _per_request(app: Any, scope: dict[str, Any]) -> float:
    """Best microseconds per request over the rounds."""
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.perf_counter()
        for _ in range(REQUESTS):
            await app(scope, _receive, _send)
        best = min(best, (time.perf_counter() - began) / REQUESTS * 1e6)
    return best


async def _measure() -> dict[str, float]:
    """The figures, in a process already in multiprocess mode."""
    from cryptopredict.core import instruments
    from cryptopredict.core.metrics import exposition
    from cryptopredict.core.request_metrics import RequestMetricsMiddleware

    scope = {"type": "http", "method": "GET", "path": "/api/v3/simple/price"}
    middleware = RequestMetricsMiddleware(_app, routes=list)
    requests = instruments.HTTP_REQUESTS().labels("GET", "/unbatched", "200")
    duration = instruments.HTTP_DURATION().labels("GET", "/unbatched")

    async def unbatched(scope: Any, receive: Any, send: Any) -> None:
        began = time.perf_counter()
        await _app(scope, receive, send)
        requests.inc()
        duration.observe(time.perf_counter() - began)

    figures = {
        "bare": await _per_request(_app, scope),
        "middleware": await _per_request(middleware, scope),
        "unbatched": await _per_request(unbatched, scope),
    }
    began = time.perf_counter()
    for _ in range(SCRAPES):
        size = len(exposition())
    figures["scrape_ms"] = (time.perf_counter() - began) / SCRAPES * 1e3
    figures["scrape_bytes"] = size
    return figures


def run() -> Section:
    """Measure in a child process whose metrics live in files, as a served worker's do."""
    section = Section("Metrics recording")
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        probe = (
            "import asyncio, json, pathlib, sys\n"
            "from cryptopredict.core.metrics import enable_multiprocess\n"
            "enable_multiprocess(pathlib.Path(sys.argv[1]), 'bench')\n"
            "from bench.metrics import _measure\n"
            "print(json.dumps(asyncio.run(_measure())))\n"
        )
        env = clean_env() | {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), *sys.path])}
        done = subprocess.run(
            [sys.executable, "-c", probe, str(Path(tmp) / "metrics")],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise BenchError(f"the probe failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.splitlines()[-1])
    added = figures["middleware"] - figures["bare"]
    written = figures["unbatched"] - figures["bare"]
    section.add(
        f"One process in multiprocess mode (files under a temporary DATA_DIR/metrics), "
        f"{REQUESTS:,} requests through a trivial ASGI app, best of {ROUNDS} rounds:",
        "",
        "| | µs per request |",
        "|---|---:|",
        f"| the app alone | {figures['bare']:.2f} |",
        f"| with `RequestMetricsMiddleware` (batched, written once a second) | "
        f"{figures['middleware']:.2f} (+{added:.2f}) |",
        f"| the app with a counter and a histogram written per request | "
        f"{figures['unbatched']:.2f} (+{written:.2f}) |",
        "",
        f"A scrape of this process's metrics ({figures['scrape_bytes']:,} bytes): "
        f"{figures['scrape_ms']:.2f} ms.",
    )
    return section
