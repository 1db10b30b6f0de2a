"""db/session.py Transactions: one SQLite write transaction at a time, in arrival
order; synchronous functions in one hand-off; nesting and cancellation."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cinderlite.db.session import (
    NestedWriteTransaction,
    Transactions,
    create_engine,
    create_sessionmaker,
)


@pytest.fixture
async def tx(tmp_path) -> AsyncIterator[Transactions]:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    engine = create_engine(url)
    write_engine = create_engine(url, immediate=True)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    transactions = Transactions(
        url, create_sessionmaker(write_engine), create_sessionmaker(engine)
    )
    try:
        yield transactions
    finally:
        transactions.close()
        await write_engine.dispose()
        await engine.dispose()


def insert(n: int):
    def fn(db: Session) -> None:
        db.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})

    return fn


def count(db: Session) -> int:
    return int(db.execute(text("SELECT count(*) FROM t")).scalar_one())


async def settle() -> None:
    """Let every ready task run until it blocks."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_write_transactions_run_one_at_a_time_in_arrival_order(tx: Transactions) -> None:
    entered: list[int] = []
    release = asyncio.Event()

    async def writer(n: int) -> None:
        async with tx() as db:
            entered.append(n)
            if n == 0:
                await release.wait()
            await db.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})

    tasks = [asyncio.create_task(writer(0))]
    await settle()
    for n in (1, 2, 3):
        tasks.append(asyncio.create_task(writer(n)))
        await settle()
    assert entered == [0]  # the others queue instead of polling SQLite's lock
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3]
    assert await tx.read(count) == 4


async def test_run_commits_and_what_fn_raises_rolls_back(tx: Transactions) -> None:
    await tx.run(insert(1))

    def insert_then_fail(db: Session) -> None:
        insert(2)(db)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await tx.run(insert_then_fail)
    assert await tx.read(count) == 1


async def test_run_queues_behind_an_open_write_transaction(tx: Transactions) -> None:
    release = asyncio.Event()

    async def holder() -> None:
        async with tx() as db:
            await release.wait()
            await db.execute(text("INSERT INTO t (n) VALUES (1)"))

    first = asyncio.create_task(holder())
    await settle()
    second = asyncio.create_task(tx.run(insert(2)))
    await settle()
    assert not second.done()
    release.set()
    await asyncio.gather(first, second)
    assert await tx.read(count) == 2


async def test_nested_write_transaction_raises_instead_of_waiting_for_itself(
    tx: Transactions,
) -> None:
    async with tx():
        with pytest.raises(NestedWriteTransaction):
            async with tx():
                pass
        with pytest.raises(NestedWriteTransaction):
            await tx.run(insert(1))
    # The lock is free again.
    await tx.run(insert(1))
    assert await tx.read(count) == 1


async def test_cancelled_run_holds_the_lock_until_its_thread_is_done(tx: Transactions) -> None:
    started = threading.Event()
    finish = threading.Event()

    def slow(db: Session) -> None:
        started.set()
        finish.wait(30)
        insert(1)(db)

    first = asyncio.create_task(tx.run(slow))
    await asyncio.to_thread(started.wait, 30)
    first.cancel()
    entered = asyncio.Event()

    async def next_writer() -> None:
        async with tx() as db:
            entered.set()
            await db.execute(text("INSERT INTO t (n) VALUES (2)"))

    second = asyncio.create_task(next_writer())
    await settle()
    assert not entered.is_set()  # the thread may still commit: nobody else writes yet
    finish.set()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    # The cancelled caller's transaction ran to its end (as if the client had gone
    # away after the commit), then the next writer.
    assert await tx.read(count) == 2


async def test_a_waiter_cancelled_in_the_queue_leaves_it_working(tx: Transactions) -> None:
    release = asyncio.Event()

    async def holder() -> None:
        async with tx():
            await release.wait()

    first = asyncio.create_task(holder())
    await settle()
    waiting = asyncio.create_task(tx.run(insert(1)))
    await settle()
    waiting.cancel()
    release.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await tx.run(insert(2))
    assert await tx.read(count) == 1


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
async def test_database_threads_run_as_batch_and_the_loop_does_not(tx: Transactions) -> None:
    def policy(db: Session) -> int:
        return os.sched_getscheduler(0)

    assert await tx.run(policy) == os.SCHED_BATCH  # the synchronous thread
    async with tx() as db:  # opens an aiosqlite connection (and its thread)
        await db.execute(text("SELECT 1"))
    names = {t.native_id: t.name for t in threading.enumerate()}
    aiosqlite_threads = [tid for tid, name in names.items() if "connection_worker" in name]
    assert aiosqlite_threads
    assert all(os.sched_getscheduler(tid) == os.SCHED_BATCH for tid in aiosqlite_threads)
    assert os.sched_getscheduler(0) != os.SCHED_BATCH
