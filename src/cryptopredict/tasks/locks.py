"""One lock per task kind (or per kind and argument, e.g. per coin), so two beats, two workers
or two server processes never run the same sync at once.

Every lock is taken in two layers, both without waiting (a taken lock means "skip", never
"queue up behind it"):

1. A local lock: a thread-safe table in this process, plus (when a directory is given) an
   exclusive ``flock`` on a file per task kind, which also keeps apart the processes of one
   host (``serve --workers N`` without Redis). The kernel drops a ``flock`` when its process
   dies, so local locks need no expiry.
2. With Redis: a Lua script sets ``key = token`` with an expiry if the key is absent, or if
   it already holds ``token`` (then it refreshes the expiry); release and extend are Lua
   scripts that act only if the key still holds the caller's token, so a holder whose lock
   expired can never release or extend another holder's lock. The expiry frees a lock whose
   holder died without releasing it.

The owner token is the task id (``execute`` passes it; random when none is given). A task
delivered again, or retried, under the same id therefore takes its own lock back at once:
the delivery that died mid-run (a worker killed with SIGKILL) left the lock behind, and the
redelivery must not be skipped because of it. A different task finds the lock taken and is
skipped. The local layer behaves the same way: a token re-takes its own name in this process
(and, through the token written into the lock file, on this host); the kernel drops the
``flock`` of a process that died, so nothing is left behind there.

If Redis is configured but cannot be reached, the lock degrades to the local layer alone and
logs a warning: runs stay exclusive within this host, and across hosts only for as long as
Redis is up. Every task is idempotent, so a rare overlap during a Redis outage costs API calls,
never correctness; refusing to run at all would let the data go stale instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import redis

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "cryptopredict:lock:task:"

_ACQUIRE = """
local current = redis.call('get', KEYS[1])
if current == false or current == ARGV[1] then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def new_token() -> str:
    """A random owner token: only the holder that set it can release or extend the lock."""
    return secrets.token_hex(16)


class LocalLocks:
    """Non-blocking named locks for this process (and host, with a directory)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._guard = threading.Lock()
        self._owners: dict[str, str] = {}
        self._files: dict[str, IO[bytes]] = {}

    def acquire(self, name: str, token: str) -> bool:
        """Take `name` for `token` unless another token holds it in this process (or host);
        a token that holds it already keeps it (True)."""
        with self._guard:
            owner = self._owners.get(name)
            if owner is not None:
                return owner == token
            taken, handle = self._lock_file(name, token)
            if not taken:
                return False
            self._owners[name] = token
            if handle is not None:
                self._files[name] = handle
            return True

    def release(self, name: str, token: str) -> bool:
        """Give `name` back; False (and nothing changes) unless `token` holds it."""
        with self._guard:
            if self._owners.get(name) != token:
                return False
            del self._owners[name]
            handle = self._files.pop(name, None)
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return True

    def owner(self, name: str) -> str | None:
        """The token holding `name` in this process, if any."""
        with self._guard:
            return self._owners.get(name)

    def path(self, name: str) -> Path | None:
        """The lock file of `name` (its name quoted, so any lock name is a safe file name)."""
        if self.directory is None:
            return None
        return self.directory / f"{urllib.parse.quote(name, safe='=-_.')}.lock"

    def _lock_file(self, name: str, token: str) -> tuple[bool, IO[bytes] | None]:
        """Lock the file of `name` and write `token` in it: (taken, its open handle; None
        without a directory, or when another process of this host holds it for `token`)."""
        path = self.path(name)
        if path is None:
            return True, None
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+b")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            held_by = handle.read().decode(errors="replace")
            handle.close()
            return held_by == token, None
        handle.truncate(0)
        handle.write(token.encode())
        handle.flush()
        return True, handle


class RedisLocks:
    """Named locks in Redis with expiry and an owner token (see the module docstring)."""

    def __init__(self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)

    def key(self, name: str) -> str:
        """The Redis key of lock `name`."""
        return self.prefix + name

    def acquire(self, name: str, token: str, *, ttl_seconds: float) -> bool:
        """Take `name` for `token` for `ttl_seconds` unless another token holds it; a lock
        `token` holds already is refreshed to `ttl_seconds` (one atomic script). Raises
        RedisError when Redis is unreachable."""
        return bool(self._acquire(keys=[self.key(name)], args=[token, _millis(ttl_seconds)]))

    def release(self, name: str, token: str) -> bool:
        """Delete the lock if `token` still holds it."""
        return bool(self._release(keys=[self.key(name)], args=[token]))

    def extend(self, name: str, token: str, *, ttl_seconds: float) -> bool:
        """Reset the expiry to `ttl_seconds` from now if `token` still holds the lock."""
        return bool(self._extend(keys=[self.key(name)], args=[token, _millis(ttl_seconds)]))

    def owner(self, name: str) -> str | None:
        """The token holding `name`, if any."""
        value = self.client.get(self.key(name))
        return value.decode() if isinstance(value, bytes) else value


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@dataclass(slots=True)
class Lease:
    """A held lock: its name, owner token and the layers that hold it."""

    name: str
    token: str
    redis: RedisLocks | None = field(default=None, repr=False)

    @property
    def backend(self) -> str:
        """`redis` when Redis holds it too, else `local`."""
        return "redis" if self.redis is not None else "local"

    def extend(self, ttl_seconds: float) -> bool:
        """Push the Redis expiry out (long runs); False when the lock was lost meanwhile.
        Local leases never expire, so extending one always succeeds."""
        if self.redis is None:
            return True
        try:
            return self.redis.extend(self.name, self.token, ttl_seconds=ttl_seconds)
        except redis.RedisError as exc:
            logger.warning("could not extend lock %r: %s", self.name, exc)
            return False


class TaskLocks:
    """The locks of every task kind: local always, Redis too when configured."""

    def __init__(
        self,
        redis_client: redis.Redis | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        directory: Path | None = None,
    ) -> None:
        self.local = LocalLocks(directory)
        self.redis = RedisLocks(redis_client, prefix=prefix) if redis_client is not None else None

    def acquire(self, name: str, *, ttl_seconds: float, token: str | None = None) -> Lease | None:
        """Take lock `name` for `token` (a task id; random if None) without waiting; None
        when another token holds it. A lock the same token holds is taken over (a
        redelivered or retried task) and its expiry refreshed."""
        token = token or new_token()
        already = self.local.owner(name) == token
        if not self.local.acquire(name, token):
            return None
        if self.redis is None:
            return Lease(name, token)
        try:
            taken = self.redis.acquire(name, token, ttl_seconds=ttl_seconds)
        except redis.RedisError as exc:
            logger.warning("Redis unreachable for lock %r (%s): holding it locally only", name, exc)
            return Lease(name, token)
        if not taken:
            if not already:
                self.local.release(name, token)
            return None
        return Lease(name, token, self.redis)

    def release(self, lease: Lease) -> None:
        """Give a lease back; a Redis lock that expired meanwhile is left to its new owner."""
        if lease.redis is not None:
            try:
                if not lease.redis.release(lease.name, lease.token):
                    logger.warning("lock %r expired before its run finished", lease.name)
            except redis.RedisError as exc:
                logger.warning(
                    "could not release lock %r (it expires by itself): %s", lease.name, exc
                )
        self.local.release(lease.name, lease.token)

    @contextlib.contextmanager
    def hold(
        self, name: str, *, ttl_seconds: float, token: str | None = None
    ) -> Iterator[Lease | None]:
        """`with locks.hold(name, ttl_seconds=..., token=task_id) as lease:` (lease None:
        another token has it, so skip the work); released on the way out whatever happens."""
        lease = self.acquire(name, ttl_seconds=ttl_seconds, token=token)
        try:
            yield lease
        finally:
            if lease is not None:
                self.release(lease)
