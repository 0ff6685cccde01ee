"""What can go wrong talking to CoinGecko, split by whether trying again can help.

CoinGeckoError                    base of everything the market-data client raises
├── TemporaryError                worth retrying after a pause (the client retries these)
│   ├── UpstreamTimeoutError      no answer within the timeout (or HTTP 408)
│   ├── UpstreamConnectionError   could not connect, or the connection broke mid-answer
│   ├── UpstreamServerError       HTTP 5xx
│   └── RateLimitedByUpstreamError HTTP 429; `retry_after` seconds when CoinGecko said so
├── FatalError                    retrying the same request gives the same failure
│   ├── UpstreamClientError       HTTP 4xx other than 408/429 (`status_code`, `error_code`)
│   │   ├── UpstreamAuthError     401/403: key missing, invalid, or not allowed this range
│   │   └── UpstreamNotFoundError 404: unknown coin or endpoint
│   └── MalformedResponseError    a 2xx whose body is not the documented shape
├── CircuitOpenError              the breaker refuses calls until `retry_at`; none was sent
└── RateLimitWaitExceededError    the local token bucket could not serve within `max_wait`

Only `TemporaryError` is retried by the client; the breaker counts timeouts, connection
errors, 5xx and malformed payloads as failures, never our own 4xx or CoinGecko's 429.
"""

from __future__ import annotations

from datetime import datetime


class CoinGeckoError(Exception):
    """Base of the tree, so callers can catch every upstream failure in one clause."""


class TemporaryError(CoinGeckoError):
    """A failure that may pass: the same request can succeed after a pause."""


class UpstreamTimeoutError(TemporaryError):
    """CoinGecko did not answer within the configured timeout."""


class UpstreamConnectionError(TemporaryError):
    """The connection could not be made or broke before a full answer arrived."""


class UpstreamServerError(TemporaryError):
    """CoinGecko answered 5xx: its problem, likely to pass."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class RateLimitedByUpstreamError(TemporaryError):
    """CoinGecko answered 429; `retry_after` holds its Retry-After in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status_code = 429


class FatalError(CoinGeckoError):
    """A failure that repeats on retry: fix the request, the key or the parser instead."""


class UpstreamClientError(FatalError):
    """CoinGecko rejected the request (4xx): bad parameters, missing key, unknown coin."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code


class UpstreamAuthError(UpstreamClientError):
    """401/403: the key is missing or wrong, or the plan does not cover this request."""


class UpstreamNotFoundError(UpstreamClientError):
    """404: the coin (or endpoint) does not exist upstream."""


class MalformedResponseError(FatalError):
    """A successful status with a body we refuse to trust; it is never returned to callers."""

    def __init__(self, message: str, *, endpoint: str, reason: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.reason = reason


class CircuitOpenError(CoinGeckoError):
    """The circuit breaker is open: the call was refused locally, nothing reached CoinGecko."""

    def __init__(self, message: str, *, retry_at: datetime | None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class RateLimitWaitExceededError(CoinGeckoError):
    """Waiting for a rate-limit token would take longer than the caller allowed."""

    def __init__(self, message: str, *, wait_seconds: float) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


TEMPORARY_FAULTS: tuple[type[CoinGeckoError], ...] = (
    TemporaryError,
    CircuitOpenError,
    RateLimitWaitExceededError,
)
"""Faults that may pass on their own: a run they failed is worth retrying later."""
