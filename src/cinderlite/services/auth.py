"""Token validation for the volume and image APIs, with a short in-memory cache.

The embedded validator looks tokens up through the identity service
(`IdentityService.caller`: one read unit, the identity repository's queries).
Validated tokens are cached for at most `cache_seconds` (and never past their
expiry) so that a hot API does not hit the database for every request. A
revocation evicts at once in every process that shares the data directory: the
process that revokes bumps a `RevocationNotice` file, and every validator looks
at that file (one stat) on each request and drops its cache when it changed.

Processes on several machines (or several API processes: `serve --role api`,
`--processes N`) cannot rely on a file: there every revocation also bumps a
counter in the database (`Generations`, table cache_generations), and each
request compares it (one primary-key read) before trusting the cache, so a
token revoked through any process is refused by every other one from the
moment the revocation was answered. A single `serve` (role `all`) keeps the
file alone and reads nothing more per request; it still bumps the counter.

Under load, a cache entry must not expire for every in-flight request at the
same moment: concurrent misses for one token share a single lookup, and a token
still in use near the end of its cache life is re-validated in the background
while requests keep being answered from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Unauthenticated
from cinderlite.domain.identity import Caller
from cinderlite.services import identity

log = logging.getLogger(__name__)


class TokenValidator(Protocol):
    async def validate(self, token: str) -> Caller:
        """The caller for `token`; raises Unauthenticated or DependencyUnavailable."""
        ...

    async def forget(self, token: str) -> None:
        """Drop one token from the cache (after it was revoked here; other processes
        drop their whole cache)."""
        ...

    async def clear(self) -> None:
        """Drop every cached token (after a change that can invalidate many), here and,
        through the revocation notice, in every process sharing the data directory."""
        ...


class CallerLookup(Protocol):
    async def caller(self, token: str) -> Caller:
        """The caller a stored token stands for; raises Unauthenticated."""
        ...


class Generations(Protocol):
    """A counter in the database (db/generations.py GenerationRepository)."""

    async def read(self) -> int: ...

    async def bump(self) -> None: ...


class RevocationNotice:
    """A file that is replaced (a new inode) at every revocation, in any process.

    `changed()` is one stat; it is True once after each replacement seen. With
    no path (tests, a lone process) it only tells this process of its own bumps.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._seen = self._identity()

    def _identity(self) -> tuple[int, int]:
        if self._path is None:
            return (0, 0)
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_mtime_ns)

    def bump(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{time.time_ns()}\n".encode())
        finally:
            os.close(fd)
        os.replace(tmp, self._path)  # a new inode: seen even within one timestamp tick
        self._seen = self._identity()

    def changed(self) -> bool:
        current = self._identity()
        if current == self._seen:
            return False
        self._seen = current
        return True


class EmbeddedTokenValidator:
    def __init__(
        self, lookup: CallerLookup, *, cache_seconds: float = 10.0,
        max_entries: int = 10000, refresh_ahead_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic, notice: RevocationNotice | None = None,
        generations: Generations | None = None, check_generations: bool = False,
    ) -> None:
        self._callers = lookup
        self._notice = notice or RevocationNotice()
        # Bumped at every revocation; read per request only when `check_generations`.
        self._generations = generations
        self._check_generations = check_generations and generations is not None
        self._seen_generation: int | None = None
        self._clock = clock
        self._cache_seconds = cache_seconds
        # A hit with less than this left starts a background re-validation.
        self._refresh_ahead = (
            cache_seconds / 4 if refresh_ahead_seconds is None else refresh_ahead_seconds
        )
        self._max_entries = max_entries
        # digest -> (monotonic deadline, when to start a background refresh, caller)
        self._cache: OrderedDict[str, tuple[float, float, Caller]] = OrderedDict()
        # digest -> the lookup running for it; later misses await the same one.
        self._inflight: dict[str, asyncio.Task[Caller]] = {}
        # Bumped by forget/clear: a lookup that started before stores nothing, so a
        # revocation cannot be undone by a lookup that read the row just before it.
        self._generation = 0

    async def validate(self, token: str) -> Caller:
        if self._notice.changed():  # another process revoked something
            self._drop_all()
        if self._check_generations:
            await self._compare_generation()
        digest = identity.token_digest(token)
        hit = self._cache.get(digest)
        if hit is not None:
            deadline, refresh_at, caller = hit
            now = self._clock()
            if now < deadline:
                if now >= refresh_at and digest not in self._inflight:
                    self._start_lookup(digest, token)
                return caller
            del self._cache[digest]
        lookup = self._inflight.get(digest) or self._start_lookup(digest, token)
        # shield: a client that goes away must not cancel the lookup others await.
        return await asyncio.shield(lookup)

    async def forget(self, token: str) -> None:
        digest = identity.token_digest(token)
        self._generation += 1
        self._cache.pop(digest, None)
        self._inflight.pop(digest, None)
        self._notice.bump()
        await self._bump_generation()

    async def clear(self) -> None:
        self._drop_all()
        self._notice.bump()
        await self._bump_generation()

    async def _bump_generation(self) -> None:
        # Awaited before the revoking request is answered: a request sent after the
        # answer, to any process, sees the new generation. This process's own
        # `_seen_generation` is left behind on purpose: its next request drops its
        # whole cache, so a bump by another process at the same moment is not missed.
        if self._generations is None:
            return
        try:
            await self._generations.bump()
        except Exception:
            # The revocation itself is committed; other processes' caches let the
            # token go for at most `cache_seconds` more.
            log.exception("could not announce a revocation to the other processes")

    async def _compare_generation(self) -> None:
        assert self._generations is not None
        current = await self._generations.read()
        if current != self._seen_generation:
            if self._seen_generation is not None:
                self._drop_all()
            self._seen_generation = current

    def _drop_all(self) -> None:
        self._generation += 1
        self._cache.clear()
        self._inflight.clear()

    def _start_lookup(self, digest: str, token: str) -> asyncio.Task[Caller]:
        task = asyncio.get_running_loop().create_task(
            self._lookup(digest, token, self._generation)
        )
        self._inflight[digest] = task
        task.add_done_callback(_retrieve)
        return task

    async def read_caller(self, token: str) -> Caller:
        """The database lookup behind the cache (raises Unauthenticated)."""
        return await self._callers.caller(token)

    async def _lookup(self, digest: str, token: str, generation: int) -> Caller:
        started = self._clock()
        try:
            caller = await self.read_caller(token)
        except Unauthenticated:
            if generation == self._generation:
                self._cache.pop(digest, None)
            raise
        finally:
            if self._inflight.get(digest) is asyncio.current_task():
                del self._inflight[digest]
        if generation == self._generation:
            deadline = started + self._cache_seconds
            refresh_at = deadline - self._refresh_ahead
            if caller.expires_at is not None:
                # Never past the token's expiry, and no refresh that could not extend
                # the entry. (A wall-clock step shifts this by at most cache_seconds.)
                expiry = self._clock() + (
                    caller.expires_at - utcnow()
                ).total_seconds()
                if expiry < deadline:
                    deadline, refresh_at = expiry, math.inf
            self._cache[digest] = (deadline, refresh_at, caller)
            self._cache.move_to_end(digest)
            if len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return caller


def _retrieve(task: asyncio.Task[Caller]) -> None:
    """Mark a lookup's exception as seen: a background refresh has no awaiter, and
    its failure (the token was revoked elsewhere, the database is busy) only means
    the next request looks the token up itself."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, Unauthenticated):
        log.debug("token lookup failed: %r", exc)
