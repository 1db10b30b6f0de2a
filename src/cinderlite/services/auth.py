"""Token validation for the volume and image APIs, with a short in-memory cache.

The embedded validator reads the token table. Validated tokens are cached for at
most `cache_seconds` (and never past their expiry) so that a hot API does not
hit the database for every request; a revocation in this process evicts at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cinderlite.domain.identity import Caller
from cinderlite.services import identity


class TokenValidator(Protocol):
    async def validate(self, token: str) -> Caller:
        """The caller for `token`; raises Unauthenticated or DependencyUnavailable."""
        ...

    def forget(self, token: str) -> None:
        """Drop one token from the cache (after it was revoked here)."""
        ...

    def clear(self) -> None:
        """Drop every cached token (after a change that can invalidate many)."""
        ...


class EmbeddedTokenValidator:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, cache_seconds: float = 10.0,
        max_entries: int = 10000,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, Caller]] = OrderedDict()

    async def validate(self, token: str) -> Caller:
        digest = identity.token_digest(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            caller = hit[1]
            if caller.expires_at is None or caller.expires_at > identity.utcnow():
                return caller
        self._cache.pop(digest, None)
        async with self._sessionmaker() as db:
            caller, _ = await identity.validate_token(db, token=token)
        self._cache[digest] = (now + self._cache_seconds, caller)
        if len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return caller

    def forget(self, token: str) -> None:
        self._cache.pop(identity.token_digest(token), None)

    def clear(self) -> None:
        self._cache.clear()
