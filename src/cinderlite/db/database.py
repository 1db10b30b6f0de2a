"""The database as the rest of the service reaches it: one object per process.

`Database` owns the engines, the write transactions (db/session.py
Transactions), SQLite's inline reader (db/fastread.py) and its checkpointer.
Services get it from the wiring (app.py) and open units of work through it;
only db/ modules touch the reader or know the dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from cinderlite.db.checkpoint import Checkpointer
from cinderlite.db.fastread import SqliteReader, sqlite_path
from cinderlite.db.session import Transactions, create_engine, create_sessionmaker, is_sqlite

T = TypeVar("T")

# What a unit of work yields, as the services see it: an opaque handle they pass
# on to db/ functions and repositories, never use themselves. `SyncUnit` is the
# one `Database.run` hands to a synchronous function on SQLite's database thread.
Unit = AsyncSession
SyncUnit = Session


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self._write_engine = create_engine(url, immediate=True) if is_sqlite(url) else self.engine
        self.transactions = Transactions(
            url, create_sessionmaker(self._write_engine), self.sessionmaker
        )
        path = sqlite_path(url)
        # Inline single-row reader for hot GET paths (SQLite only).
        self.reader: SqliteReader | None = SqliteReader(path) if path else None
        self._checkpointer = Checkpointer(path) if path else None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[Database]:
        database = cls(url)
        if database._checkpointer is not None:
            database._checkpointer.start()
        try:
            yield database
        finally:
            await database.close()

    def read(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session for reads (and single-statement writes): a deferred transaction."""
        return self.sessionmaker()

    def write(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A session in a write transaction: committed on success, rolled back on error.

        Keep it short: on SQLite every other writer of the process waits for it.
        """
        return self.transactions()

    async def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a write transaction, as one hand-off to the database
        thread on SQLite; what `fn` raises rolls the transaction back."""
        return await self.transactions.run(fn)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a read transaction, as one hand-off on SQLite."""
        return await self.transactions.read(fn)

    async def close(self) -> None:
        self.transactions.close()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()
        if self.reader is not None:
            self.reader.close()
