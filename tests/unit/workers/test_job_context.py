"""JobContext.follow: a thread's progress reaches the job's context while the work runs."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from cinderlite.datapath.hashing import Progress
from cinderlite.domain.jobs import Lease
from cinderlite.workers.runner import JobContext

LEASE = Lease(job_id="j", token="t", seconds=60)


async def test_follow_reports_progress_while_the_work_runs() -> None:
    ctx = JobContext(job=SimpleNamespace(), owner="o", lease=LEASE, store=None)  # type: ignore[arg-type]
    progress = Progress(100)
    halfway = threading.Event()
    go_on = threading.Event()

    def work() -> str:
        progress.done = 50
        halfway.set()
        go_on.wait(5)
        progress.done = 100
        return "done"

    task = asyncio.ensure_future(ctx.follow(progress, asyncio.to_thread(work), interval=0.01))
    await asyncio.to_thread(halfway.wait, 5)
    for _ in range(100):
        if ctx.bytes_done == 50:
            break
        await asyncio.sleep(0.01)
    assert (ctx.bytes_done, ctx.bytes_total) == (50, 100)
    go_on.set()
    assert await task == "done"
    assert (ctx.bytes_done, ctx.bytes_total) == (100, 100)


async def test_follow_passes_the_work_s_error_on() -> None:
    ctx = JobContext(job=SimpleNamespace(), owner="o", lease=LEASE, store=None)  # type: ignore[arg-type]

    async def fails() -> None:
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        await ctx.follow(Progress(1), fails())
