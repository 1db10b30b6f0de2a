"""Engines, session factories and transactions. SQLite gets WAL, a busy timeout,
one write transaction at a time per process, and a thread of its own for
transactions written as one synchronous function (`Transactions.run`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False, immediate: bool = False) -> AsyncEngine:
    """An async engine; on SQLite, `immediate` makes every transaction take the write
    lock at BEGIN. A deferred transaction that reads and then writes fails at once
    with "database is locked" when another writer committed in between (WAL
    snapshot rule); one that begins IMMEDIATE waits for the lock instead."""
    kwargs: dict[str, Any] = {"echo": echo}
    if is_sqlite(url):
        # aiosqlite opens the connection in the thread that will run its statements.
        kwargs["connect_args"] = {"timeout": 30, "factory": _BatchConnection}
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        _sqlite_setup(engine.sync_engine, immediate=immediate)
    return engine


def _sqlite_setup(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints run in the background (db/checkpoint.py), never in a commit.
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # pysqlite's own transaction handling defers BEGIN until the first
        # write; issue BEGIN ourselves so that isolation is what SQLAlchemy expects.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def use_batch_scheduling() -> None:
    """Put the calling thread in SCHED_BATCH (Linux; elsewhere nothing happens).

    For threads the event loop hands short work to (database calls, file-system
    calls). Such a thread, woken by the loop, would otherwise preempt the loop
    thread on its CPU while that thread still holds the GIL: the woken thread
    then waits for the GIL and the loop thread for a CPU. On a busy 2-core
    machine that doubled the upload action's p99 from 4 clients. A batch thread
    keeps its normal share of the CPU but does not preempt on wake-up: it runs
    when the loop thread blocks (or on an idle CPU).
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, os.sched_param(0))


class _BatchConnection(sqlite3.Connection):
    """A sqlite3 connection whose opening thread (aiosqlite's) is put in SCHED_BATCH."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        use_batch_scheduling()
        super().__init__(*args, **kwargs)


class NestedWriteTransaction(RuntimeError):
    """A task opened a write transaction while holding one (it would wait for itself)."""


class _SqliteThread:
    """One thread with synchronous sessions on the SQLite file, for `Transactions.run`.

    Through aiosqlite every statement is three or four hand-offs between the
    event loop and a connection thread (cursor, execute, fetch, close); on a
    busy machine each hand-off waits for a CPU. A function run here costs one.
    """

    def __init__(self, url: str) -> None:
        sync_url = url.replace("sqlite+aiosqlite:", "sqlite:", 1)
        self._engines: list[Engine] = []
        self._makers: dict[bool, sessionmaker[Session]] = {}
        for write in (False, True):
            engine = create_sync_engine(sync_url, connect_args={"timeout": 30})
            _sqlite_setup(engine, immediate=write)
            self._engines.append(engine)
            self._makers[write] = sessionmaker(engine, expire_on_commit=False)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-sync", initializer=use_batch_scheduling
        )

    def _call(self, fn: Callable[[Session], T], write: bool) -> T:
        with self._makers[write]() as db, db.begin():
            return fn(db)

    async def call(self, fn: Callable[[Session], T], *, write: bool) -> T:
        """Run `fn(session)` in a transaction in the thread. When the caller is
        cancelled, wait for the thread anyway (it may commit) and then re-raise, so
        that the write lock is never released while the thread still writes."""
        fut = self._executor.submit(self._call, fn, write)
        try:
            return await asyncio.shield(asyncio.wrap_future(fut))
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.wrap_future(fut)
            raise

    def close(self) -> None:
        # Connections belong to the thread (pysqlite's same-thread check).
        with contextlib.suppress(RuntimeError):
            for engine in self._engines:
                self._executor.submit(engine.dispose).result()
        self._executor.shutdown(wait=True)


class Transactions:
    """Write transactions, and synchronous read or write functions in one hop.

    `async with transactions() as db:` gives a session in a write transaction,
    committed on success and rolled back on error. `await run(fn)` and
    `await read(fn)` call `fn(session)` with a synchronous session in a write /
    read transaction and return its result.

    On SQLite the process runs one write transaction at a time, queued on an
    asyncio.Lock. SQLite has a single writer anyway, and its own wait for the
    lock (`busy_timeout`) polls in growing sleeps of up to 100 ms and is unfair:
    under load a waiter lost to newcomers again and again, and the upload
    action's 202 took seconds at p99. The lock is a FIFO queue woken without
    sleeps; `busy_timeout` still arbitrates between processes (`cinderlite
    worker`). So a write transaction must stay short: no awaits on anything but
    the database inside it (hash passwords, read files, run qemu-img outside).
    PostgreSQL keeps concurrent transactions and runs `fn` through `run_sync`.
    """

    def __init__(
        self,
        url: str,
        write_sessionmaker: async_sessionmaker[AsyncSession],
        read_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self._write = write_sessionmaker
        self._read = read_sessionmaker
        sqlite = is_sqlite(url)
        self._lock = asyncio.Lock() if sqlite else None
        self._holder: asyncio.Task[Any] | None = None
        self._thread = _SqliteThread(url) if sqlite and ":memory:" not in url else None

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self._locked(), self._write() as db, db.begin():
            yield db

    async def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a write transaction; what it raises rolls it back."""
        async with self._locked():
            if self._thread is not None:
                return await self._thread.call(fn, write=True)
            async with self._write() as db, db.begin():
                return await db.run_sync(fn)

    async def read(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in a read-only transaction (it sees one snapshot)."""
        if self._thread is not None:
            return await self._thread.call(fn, write=False)
        async with self._read() as db:
            return await db.run_sync(fn)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # Without the lock this waited busy_timeout (30 s) and then failed.
            raise NestedWriteTransaction("a write transaction inside a write transaction")
        async with self._lock:
            self._holder = task
            try:
                yield
            finally:
                self._holder = None

    def close(self) -> None:
        if self._thread is not None:
            self._thread.close()
