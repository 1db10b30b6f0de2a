"""_all_or_cancel: the converted output's info, hashes and fsync run together, and stop together."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cinderlite.datapath.streams import CopyStopped, run_blocking
from cinderlite.domain.errors import ConversionFailed
from cinderlite.services.upload_worker import _all_or_cancel


async def test_results_in_order_and_concurrent() -> None:
    started: list[str] = []
    both = asyncio.Event()

    async def step(name: str) -> str:
        started.append(name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 2)  # deadlocks unless run at the same time
        return name

    assert await _all_or_cancel(step("a"), step("b")) == ["a", "b"]


async def test_first_failure_stops_the_others_before_it_propagates() -> None:
    thread_ended = threading.Event()

    def hashing(*, stop: threading.Event) -> None:
        stop.wait(10)
        thread_ended.set()
        raise CopyStopped()

    async def bad_info() -> None:
        await asyncio.sleep(0.05)
        raise ConversionFailed("format is now raw")

    with pytest.raises(ConversionFailed, match="format is now raw"):
        await _all_or_cancel(bad_info(), run_blocking(hashing, stop=threading.Event()))
    # The copy thread had finished before the error reached us (the caller
    # removes the staging file next).
    assert thread_ended.is_set()


async def test_cancelling_the_caller_cancels_and_awaits_all() -> None:
    thread_ended = threading.Event()

    def hashing(*, stop: threading.Event) -> None:
        stop.wait(10)
        thread_ended.set()

    task = asyncio.ensure_future(
        _all_or_cancel(asyncio.sleep(10), run_blocking(hashing, stop=threading.Event()))
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert thread_ended.is_set()


def test_timeline_logs_each_phase_at_debug(caplog) -> None:  # type: ignore[no-untyped-def]
    import logging
    from datetime import timedelta

    from cinderlite.domain.clock import utcnow
    from cinderlite.services.upload_worker import _Timeline

    timeline = _Timeline("img-1", utcnow() - timedelta(seconds=2))
    timeline.mark("prepare")
    timeline.mark("copy")
    with caplog.at_level(logging.INFO, logger="cinderlite.uploads"):
        timeline.log()  # not at INFO
    assert not caplog.records
    with caplog.at_level(logging.DEBUG, logger="cinderlite.uploads"):
        timeline.log()
    [record] = caplog.records
    text = record.getMessage()
    assert "img-1" in text
    assert [part.split()[0] for part in text.split(": ", 1)[1].split(", ")] == [
        "queued", "prepare", "copy",
    ]
    assert float(text.split("queued ")[1].split(" ms")[0]) >= 2000
