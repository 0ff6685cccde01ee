"""Functions the `ChildProcess` tests run in the child (module level: pickled by name)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any


def whereabouts() -> dict[str, Any]:
    """The child's process id, scheduling priority and thread count."""
    return {"pid": os.getpid(), "niceness": os.nice(0), "threads": threading.active_count()}


def fail(message: str) -> None:
    """Raises a ValueError (pickles fine)."""
    raise ValueError(message)


class _StubbornError(Exception):
    """An exception that cannot be rebuilt from its pickle (a required keyword argument)."""

    def __init__(self, *, reason: str) -> None:
        super().__init__(f"stubborn: {reason}")
        self.reason = reason


def fail_stubbornly() -> None:
    """Raises an exception that does not survive pickling."""
    raise _StubbornError(reason="no pickle")


def sleep(seconds: float) -> float:
    """Sleeps, then returns how long."""
    time.sleep(seconds)
    return seconds


def die() -> None:
    """Ends the child at once, as the kernel's OOM killer would."""
    os._exit(9)
