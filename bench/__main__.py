"""Run the benchmarks and rewrite BENCHMARKS.md: `make bench`, or `python -m bench [NAME...]`.

Exit status 1 when any benchmark failed; its section then says why instead of showing figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import (
    dashboard,
    forecast_serving,
    forecasting,
    http_latency,
    import_prices,
    load,
    marketdata,
    metrics,
    portfolios,
    retrain,
    stream,
    tasks,
)
from bench.common import REPO_ROOT, Section, library_versions, machine_facts

BENCHMARKS: dict[str, tuple[str, Callable[[], Section]]] = {
    "import": ("Price import into PostgreSQL", import_prices.run),
    "http": ("HTTP latency", http_latency.run),
    "backfill": ("Backfill from CoinGecko", marketdata.run_backfill),
    "mirror": ("CoinGecko mirror", marketdata.run_mirror),
    "load": (f"Load: {load.CONNECTIONS} connections", load.run),
    "sync-calls": ("Calls per prices sync", marketdata.run_sync_calls),
    "forecast": ("Forecasting", forecasting.run),
    "serving": ("Forecasts in service", forecast_serving.run),
    "tasks": ("Background tasks (Celery)", tasks.run),
    "stream": (f"Live stream: {stream.CLIENTS} clients", stream.run),
    "metrics": ("Metrics recording", metrics.run),
    "retrain": ("Retraining", retrain.run),
    "portfolios": ("Portfolio analytics", portfolios.run),
    "dashboard": ("Dashboard", dashboard.run),
}
TIME_LIMIT_SECONDS = 2400


def _time_out(_signum: int, _frame: FrameType | None) -> None:
    raise TimeoutError(f"benchmarks exceeded {TIME_LIMIT_SECONDS} s")


def _render(facts: dict[str, str], sections: list[Section], argv: list[str]) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python -m bench", *map(shlex.quote, argv)])
    lines = [
        "# Benchmarks",
        "",
        f"Measured {now} by `make bench` (which runs `.venv/bin/python -m bench`; this run: "
        f"`{command}`). The file is rewritten by every run: do not edit it by hand.",
        "",
        "Figures come from a shared development machine, so they vary from run to run; the "
        "load average below says how busy it was when the run started.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        f"| Libraries | {library_versions()} |",
    ]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.failed:
            lines.append(f"**FAILED** — no figures: {section.failed}")
        else:
            lines += section.lines
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks (all by default) and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {list(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    chosen = args.names or list(BENCHMARKS)

    signal.signal(signal.SIGALRM, _time_out)
    signal.alarm(TIME_LIMIT_SECONDS)
    facts = machine_facts()
    sections = []
    for name in chosen:
        title, run = BENCHMARKS[name]
        started = time.perf_counter()
        print(f"bench {name}: running", file=sys.stderr, flush=True)
        try:
            section = run()
        except Exception as exc:
            traceback.print_exc()
            section = Section(title, failed=f"{type(exc).__name__}: {exc}")
        print(f"bench {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        sections.append(section)
    signal.alarm(0)

    args.output.write_text(_render(facts, sections, argv or sys.argv[1:]), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    failed = [section.title for section in sections if section.failed]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
