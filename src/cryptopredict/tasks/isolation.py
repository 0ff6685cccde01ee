"""``ChildProcess``: one long-lived child process that runs CPU-heavy calls for a server.

A job in the server's embedded runner runs on a thread of the process that answers HTTP
requests. Training is seconds of pure-Python and numpy work per coin; on a thread it would
hold the GIL for most of that time and every request would wait behind it. In a child
process it competes only for a core, and the child lowers its own scheduling priority
(``nice``), so on a machine with few cores the requests still come first.

- The child is started on the first call (``spawn``: a fresh interpreter, none of the
  server's threads, sockets or database connections) and reused, so the imports of the
  forecasting stack (pandas, statsmodels, LightGBM, torch) are paid once.
- One call at a time: a caller waits for the one before it.
- A call that outlives its ``timeout`` stops the child (the next call starts a new one), and
  so does ``close``; a caller waiting then gets ``ChildProcessError``, as it does when the
  child dies on its own (killed for memory, say).
- What the called function raises is raised in the caller, as the same exception when it
  can be pickled, else as a ``RuntimeError`` naming it.
- The child ignores SIGINT (Ctrl-C in a terminal reaches the whole process group; the
  server stops it through ``close``) and, being a daemon process, ends with the server.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_NICENESS = 10
STOP_SECONDS = 5.0


class ChildTimeoutError(ChildProcessError):
    """A call did not finish within its timeout; the child was stopped."""


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made on the line
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _serve(connection: Connection, niceness: int, log_level: int) -> None:
    """The child's loop: run each `(function, kwargs)` received and send back
    `(True, result)` or `(False, exception)`; return when the pipe closes or None arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(niceness)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s [child]: %(message)s"
    )
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        except Exception as exc:  # the function could not be unpickled (imported)
            connection.send((False, _portable(exc)))
            continue
        if request is None:
            return
        function, kwargs = request
        try:
            reply: tuple[bool, Any] = (True, function(**kwargs))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            connection.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            connection.send((False, RuntimeError(f"the result could not be sent back: {exc}")))


class ChildProcess:
    """Runs functions in one reusable child process (module docstring)."""

    def __init__(self, *, name: str = "cryptopredict-child", niceness: int = DEFAULT_NICENESS):
        self.name = name
        self.niceness = niceness
        self._calls = threading.Lock()
        self._guard = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The running child's process id, if one runs."""
        with self._guard:
            process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def call(
        self, function: Callable[..., T], /, *, timeout: float | None = None, **kwargs: Any
    ) -> T:
        """`function(**kwargs)` in the child (a module-level function: it is pickled by
        name); its result, or what it raised.

        Raises:
            ChildTimeoutError: no answer within `timeout` seconds (the child was stopped).
            ChildProcessError: the child ended before it answered, or this object is closed.
        """
        with self._calls:
            connection = self._start()
            try:
                connection.send((function, kwargs))
                reply = connection.recv() if connection.poll(timeout) else None
            except (EOFError, OSError):
                code = self._stop()
                raise ChildProcessError(
                    f"{self.name} ended before it answered (exit code {code})"
                ) from None
            if reply is None:
                self._stop()
                raise ChildTimeoutError(
                    f"{self.name}: no answer within {timeout:.0f} s; the process was stopped"
                )
        ok, value = reply
        if ok:
            result: T = value
            return result
        raise value

    def close(self) -> None:
        """Stop the child (a call in progress fails with ChildProcessError); no further calls."""
        with self._guard:
            self._closed = True
        self._stop()

    def _start(self) -> Connection:
        with self._guard:
            if self._closed:
                raise ChildProcessError(f"{self.name} is closed")
            if self._connection is not None and self._process is not None:
                if self._process.is_alive():
                    return self._connection
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            process = context.Process(
                target=_serve,
                args=(child, self.niceness, logging.getLogger().getEffectiveLevel()),
                name=self.name,
                daemon=True,
            )
            process.start()
            child.close()
            self._process, self._connection = process, parent
            logger.info("%s started (pid %s)", self.name, process.pid)
            return parent

    def _stop(self) -> int | None:
        """Terminate the child if it runs; its exit code. Its pipe is left to the garbage
        collector: a caller may still be polling it, and sees the end of the pipe."""
        with self._guard:
            process = self._process
            self._process = self._connection = None
        if process is None:
            return None
        if process.is_alive():
            process.terminate()
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(STOP_SECONDS)
        return process.exitcode
