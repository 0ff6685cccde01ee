"""Secrets kept out of error texts that are logged, stored on run records or shown to users.

Run and task records keep the message of the fault that ended them; a CoinGecko fault can
quote the request URL, API key included, so every such text passes through `scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ERROR_MAX_CHARS = 2000
"""The longest error text kept; longer ones are cut, ending in an ellipsis."""
_KEY_IN_URL = re.compile(r"(x[-_]cg[-_](?:demo|pro)[-_]api[-_]key[=:]\s*)[^&\s\"']+", re.I)


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """The message without API keys (configured ones, or any in a URL) and cut to size."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = _KEY_IN_URL.sub(r"\1***", message)
    if len(message) > ERROR_MAX_CHARS:
        message = message[: ERROR_MAX_CHARS - 1] + "…"
    return message
