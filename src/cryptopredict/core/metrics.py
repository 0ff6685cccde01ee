"""Prometheus metrics plumbing: instruments made on first use, files shared by the processes
of one run, and the text a scrape returns (`core.instruments` holds what is measured).

Instruments are made on first use, and prometheus_client is imported only then, because the
client decides when first imported whether values live in memory or in files that several
processes share (`PROMETHEUS_MULTIPROC_DIR`); `serve` and `worker` choose files after the CLI
has imported the code that records, but before anything is recorded.

Several processes: `enable_multiprocess(root, role)` gives the process that starts a run
(`serve`, whose uvicorn workers and embedded scheduler write there; `worker`, whose Celery pool
does) a directory of its own under `root` (DATA_DIR/metrics), which its children inherit
through the environment. A scrape adds up the files of every run under the root whose process
still lives, so the API also reports what a `cryptopredict worker` sharing its data directory
ran. Counters and histograms add up over a run's processes, exited ones included (a counter
must not fall when a worker is replaced); gauges are `mostrecent` (the value last set by any
process wins), so no file of a dead process ever needs `mark_process_dead`. A run's directory
is removed by the next run that starts once its process has gone.

One process (tests, an embedded app): the client's default registry, in memory.
"""

from __future__ import annotations

import os
import shutil
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import psutil

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format every scraper reads."""

M = TypeVar("M")


class Instrument(Generic[M]):
    """A metric made by `make` the first time it is asked for, once per process."""

    __slots__ = ("_lock", "_made", "_make")

    def __init__(self, make: Callable[[], M]) -> None:
        self._make = make
        self._made: M | None = None
        self._lock = threading.Lock()

    def __call__(self) -> M:
        made = self._made
        if made is None:
            with self._lock:
                made = self._made
                if made is None:
                    made = self._made = self._make()
        return made


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Instrument[Counter]:
    """A counter (`name` without `_total`, which the client adds)."""

    def make() -> Counter:
        from prometheus_client import Counter

        return Counter(name, documentation, labels)

    return Instrument(make)


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Instrument[Gauge]:
    """A gauge whose value is the one last set by any process (module docstring)."""

    def make() -> Gauge:
        from prometheus_client import Gauge

        return Gauge(name, documentation, labels, multiprocess_mode="mostrecent")

    return Instrument(make)


def histogram(
    name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
) -> Instrument[Histogram]:
    """A histogram with these upper bounds (seconds, for durations)."""

    def make() -> Histogram:
        from prometheus_client import Histogram

        return Histogram(name, documentation, labels, buckets=buckets)

    return Instrument(make)


def add_observations(histogram: Histogram, total: float, buckets: Sequence[int]) -> None:
    """Add observations counted per bucket (one count per upper bound, +Inf last) with the
    sum of their values to a labelled histogram, as `observe` would one by one, in one write
    per bucket used. Uses the child's values (`_sum`, `_buckets`) of the pinned client; a
    test compares the result with `observe`'s."""
    if len(buckets) != len(histogram._buckets):
        raise ValueError(f"{len(histogram._buckets)} bucket counts expected, got {len(buckets)}")
    histogram._sum.inc(total)
    for value, count in zip(histogram._buckets, buckets, strict=True):
        if count:
            value.inc(count)


class Buffered(Protocol):
    """A recorder that keeps values in memory and writes them to its metrics in batches."""

    def flush(self) -> None:
        """Write what is pending; safe from any thread."""


_buffered: weakref.WeakSet[Buffered] = weakref.WeakSet()


def flush_before_scrapes(source: Buffered) -> None:
    """Have `source` flushed before each scrape this process answers, so a scrape sees all
    this process recorded (other processes flush on their own schedule)."""
    _buffered.add(source)


def _flush_buffered() -> None:
    for source in list(_buffered):
        source.flush()


# ---- runs sharing a directory of files ------------------------------------------------------


def _started(pid: int) -> int | None:
    """When a process started (whole seconds since the epoch), or None if it is gone."""
    try:
        return int(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _run_name(role: str, pid: int) -> str:
    return f"{role}-{pid}-{_started(pid)}"


def _is_live(run: Path) -> bool:
    """Whether the process that started this run directory still runs (the same process:
    its start time is in the name, so a reused pid does not count)."""
    _, _, tail = run.name.partition("-")
    pid, _, started = tail.partition("-")
    if not (pid.isdecimal() and started.isdecimal()):
        return False
    return _started(int(pid)) == int(started)


def live_runs(root: Path) -> list[Path]:
    """The run directories under `root` whose process still runs."""
    if not root.is_dir():
        return []
    return sorted(run for run in root.iterdir() if run.is_dir() and _is_live(run))


def enable_multiprocess(root: Path, role: str) -> Path:
    """Record this process's and its children's values in a run directory of their own under
    `root`, and remove the directories of runs whose process has gone. Call it before any
    instrument is used (the CLI does, first thing in `serve` and `worker`)."""
    root.mkdir(parents=True, exist_ok=True)
    for run in root.iterdir():
        if run.is_dir() and not _is_live(run):
            shutil.rmtree(run, ignore_errors=True)
    own = root / _run_name(role, os.getpid())
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir()
    os.environ[MULTIPROC_ENV] = str(own)
    return own


class _RunsCollector:
    """The values of every live run under a root (and of this process's own directory,
    however it was named), merged as prometheus_client merges the files of one directory."""

    def __init__(self, root: Path, own: Path | None = None) -> None:
        self.root = root
        self.own = own

    def collect(self) -> Iterable[Metric]:
        from prometheus_client.multiprocess import MultiProcessCollector

        _flush_buffered()
        runs = {*live_runs(self.root), *([self.own] if self.own else [])}
        files = [str(path) for run in sorted(runs) for path in run.glob("*.db")]
        merged: Iterable[Metric] = MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            files, accumulate=True
        )
        return merged


def registry() -> CollectorRegistry:
    """What a scrape reads: every live run on this host in multiprocess mode, else this
    process's own registry."""
    from prometheus_client import REGISTRY

    own = os.environ.get(MULTIPROC_ENV)
    return runs_registry(Path(own).parent, Path(own)) if own else REGISTRY


def runs_registry(root: Path, own: Path | None = None) -> CollectorRegistry:
    """A registry of the live runs under `root` (and `own`), their processes' values added
    up."""
    from prometheus_client import CollectorRegistry

    merged = CollectorRegistry(auto_describe=False)
    merged.register(_RunsCollector(root, own))
    return merged


def exposition() -> bytes:
    """The text a scrape returns (`CONTENT_TYPE`)."""
    from prometheus_client import generate_latest

    _flush_buffered()
    return generate_latest(registry())


Address = tuple[str, int]


def start_listener(address: Address) -> Callable[[], None]:
    """Serve `exposition()` on `address` from a daemon thread (any path, no authentication:
    for a scraper on a private network); the function that stops it. Raises OSError when
    the address cannot be bound."""
    from prometheus_client import start_http_server

    host, port = address
    server, thread = start_http_server(port, addr=host, registry=registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
