"""JobRunner wake-ups: one claim per enqueued job, none lost while workers are busy."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from cinderlite.workers.runner import JobRunner


class FakeJobs:
    """Stands in for the jobs table (db/jobs.py JobRepository): a queue of jobs and
    a count of claim transactions."""

    def __init__(self) -> None:
        self.queued: list[Any] = []
        self.claims = 0

    async def claim_next(self, **_: Any) -> Any:
        self.claims += 1
        return self.queued.pop(0) if self.queued else None

    # finish / renew / release: nothing to record here
    async def renew_lease(self, **_: Any) -> bool:
        return True

    async def finish(self, **_: Any) -> bool:
        return True

    async def finish_with_progress(self, **_: Any) -> bool:
        return True

    async def release_dead_leases(self, **_: Any) -> int:
        return 0

    def enqueue(self, n: int) -> None:
        for i in range(n):
            self.queued.append(SimpleNamespace(id=f"job-{len(self.queued)}-{i}", kind="k",
                                               bytes_total=0, lease_token="t"))


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_one_wake_costs_one_claim_with_four_idle_workers() -> None:
    db = FakeJobs()
    ran: list[str] = []

    async def handler(ctx: Any) -> None:
        ran.append(ctx.job.id)

    runner = JobRunner(db, {"k": handler}, workers=4, poll_seconds=60)
    await runner.start()
    try:
        await _settle()
        assert db.claims == 4  # each worker looked once at start, found nothing
        db.enqueue(1)
        runner.wake()
        await _settle()
        # One worker woke and claimed; after the job it claims again (finds nothing).
        assert len(ran) == 1
        assert db.claims == 4 + 2
    finally:
        await runner.stop()


async def test_wakes_while_every_worker_is_busy_are_not_lost() -> None:
    db = FakeJobs()
    release = asyncio.Event()
    ran: list[str] = []

    async def handler(ctx: Any) -> None:
        ran.append(ctx.job.id)
        if len(ran) == 1:
            await release.wait()

    runner = JobRunner(db, {"k": handler}, workers=1, poll_seconds=60)
    await runner.start()
    try:
        await _settle()
        db.enqueue(1)
        runner.wake()
        await _settle()
        assert len(ran) == 1  # the only worker is busy with it
        db.enqueue(1)
        runner.wake()  # no idle worker: remembered
        await _settle()
        release.set()
        await _settle()
        assert len(ran) == 2  # claimed without waiting for the 60 s poll
    finally:
        await runner.stop()
