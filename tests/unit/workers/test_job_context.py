"""JobContext.follow: a thread's progress reaches the job's context while the work runs;
JobContext.guard: the lease as the process's own clock sees it."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from cinderlite.datapath.hashing import Progress
from cinderlite.domain.jobs import Lease, LeaseLost
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


# --- the guard: the lease as this process's clock sees it ------------------------------

SHORT = Lease(job_id="j", token="t", seconds=2)


def _ctx(lease: Lease = SHORT, claimed_ago: float = 0.0) -> JobContext:
    return JobContext(job=SimpleNamespace(id="j"), owner="o", lease=lease, store=None,  # type: ignore[arg-type]
                      claimed_at=time.monotonic() - claimed_ago)


async def test_guard_passes_while_the_lease_is_fresh() -> None:
    ctx = _ctx()
    started = time.monotonic()
    ctx.guard()
    assert time.monotonic() - started < 0.05


async def test_guard_waits_for_a_renewal_once_the_lease_ran_out_by_this_clock() -> None:
    # Paused past the lease (claimed 10 s ago, a 2 s lease): the guard goes on only
    # after a renewal with this claim's token succeeded.
    ctx = _ctx(claimed_ago=10)
    renewed_at: list[float] = []

    def renew_later() -> None:
        time.sleep(0.3)
        renewed_at.append(time.monotonic())
        ctx.renewed(renewed_at[0])

    threading.Thread(target=renew_later).start()
    ctx.guard()
    assert renewed_at
    assert time.monotonic() >= renewed_at[0]


async def test_guard_raises_when_the_renewal_found_the_job_taken() -> None:
    ctx = _ctx(claimed_ago=10)
    threading.Timer(0.2, ctx.lose).start()
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        ctx.guard()
    assert time.monotonic() - started < 1.5  # at the loss, not at the end of the wait


async def test_guard_raises_when_no_renewal_comes() -> None:
    ctx = _ctx(claimed_ago=10)
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        ctx.guard(wait=0.3)
    assert 0.3 <= time.monotonic() - started < 1.0


async def test_guard_stops_trusting_the_lease_a_margin_before_its_end() -> None:
    # 2 s lease, 0.5 s margin: 1.6 s after the claim the guard no longer passes.
    ctx = _ctx(claimed_ago=1.6)
    assert ctx.margin == 0.5
    with pytest.raises(LeaseLost):
        ctx.guard(wait=0.1)
    ctx.renewed(time.monotonic())
    ctx.guard(wait=0.1)


async def test_a_renewal_that_began_before_an_older_one_does_not_shorten_the_lease() -> None:
    ctx = _ctx()
    before = ctx.held_until
    ctx.renewed(time.monotonic() - 5)
    assert ctx.held_until == before
