"""Value types and limits of market-data syncs that other domains pass to its service."""

from __future__ import annotations

import enum
from collections.abc import Callable

DEFAULT_HISTORY_DAYS = 365
"""How far back a history sync looks when not told."""
MAX_HISTORY_DAYS = 3650
"""The furthest back a history sync may be asked to look."""

ProgressCallback = Callable[[str, int, int], None]
"""Called with a label, the steps done and the steps planned (the CLI draws bars)."""


class SyncKind(enum.StrEnum):
    """What a run fetched: the catalogue, latest prices, one coin's history, or all coins'."""

    DISCOVER = "discover"
    PRICES = "prices"
    HISTORY = "history"
    BACKFILL = "backfill"


PRICE_SYNC_KINDS = frozenset({SyncKind.PRICES, SyncKind.HISTORY, SyncKind.BACKFILL})
"""The kinds of run that store prices (discover only refreshes the catalogue)."""


class SyncStatus(enum.StrEnum):
    """How a run ended; `partial` means it finished but some data was not available."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"


class FailureKind(enum.StrEnum):
    """Whether a failed run's fault may pass on its own (retry later) or would repeat."""

    TEMPORARY = "temporary"
    PERMANENT = "permanent"
