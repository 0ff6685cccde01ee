"""What a task run can end with, split by whether another attempt can help.

TaskError                   base; its message is already scrubbed of secrets
├── TemporaryTaskError      worth retrying after `retry_in` seconds (`retry_delay`: exponential
│                           in the attempt, jittered): CoinGecko unreachable,
│                           rate-limited or its breaker open, the database or Redis down
├── TaskFailedError         retrying gives the same failure: bad arguments, a bug, a 4xx
└── UnknownTaskError        no task kind of that name (also a KeyError)

Runners retry only `TemporaryTaskError`, and only while the spec's `max_retries` allows;
`execute` records each attempt either way before raising.
"""

from __future__ import annotations

import random
from typing import Any

import redis
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from cryptopredict.marketdata.service import is_temporary_fault

RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 600.0


class TaskError(Exception):
    """Base of the tree: a task run did not succeed."""

    def __init__(self, message: str, *, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result
        """What the run produced before it failed (a sync's run summary), recorded with it."""


class TemporaryTaskError(TaskError):
    """A failure that may pass; try again after `retry_in` seconds.

    A job may raise it with `retry_in` (say, a Retry-After it was given): `execute` then
    waits at least that long, and otherwise the backoff of the attempt (`retry_delay`).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_in: float | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.retry_in = RETRY_BASE_SECONDS if retry_in is None else retry_in
        self.asked_retry_in = retry_in


class TaskFailedError(TaskError):
    """A failure another attempt would repeat."""


class UnknownTaskError(TaskError, KeyError):
    """No task kind has this name."""

    def __str__(self) -> str:
        return self.message


TEMPORARY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OperationalError,
    DisconnectionError,
    PoolTimeoutError,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
    TemporaryTaskError,
)
"""Exceptions outside market data that mean "not now" rather than "never"."""


def is_temporary(exc: BaseException) -> bool:
    """Whether another attempt of the same run may succeed."""
    return isinstance(exc, TEMPORARY_EXCEPTIONS) or is_temporary_fault(exc)


def retry_delay(
    attempt: int,
    *,
    base: float = RETRY_BASE_SECONDS,
    cap: float = RETRY_MAX_SECONDS,
    jitter: bool = True,
) -> float:
    """The wait before retrying the given failed attempt, for both runners: base, 2 base,
    4 base ... (base x 2^(attempt - 1)) capped at `cap`, with "equal jitter" (between half
    and all of it), so the retries of many tasks that failed together do not hit CoinGecko
    together again."""
    delay = float(min(cap, base * 2 ** max(0, attempt - 1)))
    if not jitter:
        return delay
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not secrecy
