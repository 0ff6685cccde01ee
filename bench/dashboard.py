"""The dashboard: first-load JavaScript per route (gzipped, from the built export) and the
time from navigation to a drawn coin chart with its forecast fan in headless chromium.

The chart is timed on a server as `make run` starts one (SQLite, the offline snapshot, the
embedded schedule training its models on first start), against the longest snapshot history
shown whole (range All)."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.common import (
    CLI,
    REPO_ROOT,
    SHARED_PRICES,
    BenchError,
    Section,
    clean_env,
    running_server,
)
from cryptopredict.snapshot import SNAPSHOT_COINS

FRONTEND = REPO_ROOT / "frontend"
EXPORT = FRONTEND / "out"
ROUTES = {
    "/": "index.html",
    "/coin": "coin.html",
    "/accuracy": "accuracy.html",
    "/portfolio": "portfolio.html",
    "/admin": "admin.html",
    "/account": "account.html",
}
FIRST_LOAD_LIMIT_KB = 250
CHART_LIMIT_MS = 1000
CHART_COIN = "bitcoin"
CHART_PATH = f"/coin?id={CHART_COIN}&range=all"
CHART_RUNS = 7
_SCRIPT = re.compile(r'<script([^>]*)\ssrc="(/_next/static/[^"]+\.js)"([^>]*)>')


def first_load_kb(html: Path) -> tuple[float, int]:
    """The gzipped size (kB) of every script the page loads before anything else, and how
    many there are: the `<script src>` tags of its exported HTML, less the `nomodule`
    polyfills that a browser with ES modules neither fetches nor runs."""
    tags = _SCRIPT.findall(html.read_text(encoding="utf-8"))
    sources = sorted(
        {src for before, src, after in tags if "nomodule" not in (before + after).lower()}
    )
    if not sources:
        raise BenchError(f"{html.name} loads no script: is the export built?")
    total = sum(len(gzip.compress((EXPORT / src.lstrip("/")).read_bytes(), 9)) for src in sources)
    return total / 1000, len(sources)


def _wait_for_forecasts(base_url: str, coins: Sequence[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(coins)
    while waiting and time.monotonic() < deadline:
        answer = httpx.get(f"{base_url}/api/v1/forecasts/{waiting[0]}", timeout=10)
        if answer.status_code == 200:
            waiting.pop(0)
        else:
            time.sleep(2)
    if waiting:
        raise BenchError(f"no forecasts for {waiting} after {timeout:.0f} s of first start")


def _chart_times(base_url: str) -> dict[str, dict[str, list[float]]]:
    node = shutil.which("node")
    if node is None:
        raise BenchError("Node.js is needed to drive chromium")
    env = os.environ | {"CHROMIUM_PATH": shutil.which("chromium") or "/usr/bin/chromium"}
    result = subprocess.run(  # noqa: S603 - our own script
        [
            node,
            str(REPO_ROOT / "bench" / "chart_timing.mjs"),
            base_url,
            CHART_PATH,
            str(CHART_RUNS),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=env,
    )
    times: dict[str, dict[str, list[float]]] = json.loads(result.stdout)
    return times


def _timing_row(name: str, times: dict[str, list[float]]) -> str:
    drawn = sorted(times["drawn"])
    median = statistics.median(drawn)
    seen = statistics.median(times["seen"])
    met = "yes" if median < CHART_LIMIT_MS else "**no**"
    return (
        f"| {name} | {median:.0f} ms | {drawn[0]:.0f} ms | {drawn[-1]:.0f} ms | "
        f"{seen:.0f} ms | {met} |"
    )


def run() -> Section:
    """Both measurements; the export must be built (`make web`)."""
    section = Section("Dashboard")
    if not (EXPORT / "index.html").is_file():
        raise BenchError("the dashboard is not built: run `make web`")
    section.add(
        "First-load JavaScript per route: the gzipped (level 9) size of the scripts each "
        f"exported page loads (`frontend/out/*.html`). Target: < {FIRST_LOAD_LIMIT_KB} kB.",
        "",
        "| route | scripts | first-load JS (gzip) | target met |",
        "|---|---|---|---|",
    )
    for route, name in ROUTES.items():
        kb, count = first_load_kb(EXPORT / name)
        met = "yes" if kb < FIRST_LOAD_LIMIT_KB else "**no**"
        section.add(f"| `{route}` | {count} | {kb:.1f} kB | {met} |")

    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as directory:
        data_dir = Path(directory)
        env = {"CRYPTOPREDICT_DATA_DIR": str(data_dir)}
        subprocess.run(  # noqa: S603 - our own CLI
            [str(CLI), "import-prices", "--snapshot"],
            env=clean_env(env),
            check=True,
            capture_output=True,
            timeout=300,
        )
        lines = len((SHARED_PRICES / f"{CHART_COIN}.csv").read_text().splitlines())
        extra = env | {
            "CRYPTOPREDICT_WEB_DIR": str(EXPORT),
            "CRYPTOPREDICT_TRAINING_MODELS": "naive,drift",
            "CRYPTOPREDICT_COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
        }
        database = f"sqlite:///{data_dir / 'cryptopredict.db'}"
        # First start: its schedule trains every snapshot coin and issues forecasts. The chart
        # is then timed on a restarted server with the schedule off, so no training competes.
        with running_server(
            database, data_dir, workers=1, extra_env=extra, schedule=True
        ) as server:
            _wait_for_forecasts(server.base_url, SNAPSHOT_COINS)
        with running_server(database, data_dir, workers=1, extra_env=extra) as server:
            times = _chart_times(server.base_url)
    rows = {
        "cold: a fresh browser context, empty cache": times["cold"],
        "warm: the same page loaded again": times["warm"],
        "in app: opened from the Markets page by the app's router": times["inApp"],
    }
    section.add(
        "",
        f"Coin page `{CHART_PATH}`: {lines - 1:,} daily prices (the whole snapshot history, "
        "over eight years) with the forecast fan, in headless chromium, "
        f"{CHART_RUNS} runs of each (`bench/chart_timing.mjs`). Target: < {CHART_LIMIT_MS} ms.",
        "",
        "- **drawn**: on the page's own clock, from the navigation's start (the in-app "
        "navigation: the router's push) until Chart.js has drawn the prices with the fan (the "
        "chart's `cryptopredict:price-chart-drawn` performance mark); the canvas shows on the "
        "next frame.",
        "- **seen by the harness**: on the benchmark's clock, until playwright's polling found "
        '`data-state="ready"` with `data-forecast="shown"`. That adds playwright\'s own lag, '
        "which grows while the page's main thread stays busy after the draw.",
        "",
        "| navigation | drawn: median | fastest | slowest | seen by the harness: median "
        "| target met (drawn, median) |",
        "|---|---|---|---|---|---|",
        *(_timing_row(name, values) for name, values in rows.items()),
    )
    return section
