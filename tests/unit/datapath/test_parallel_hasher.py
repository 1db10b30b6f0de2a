"""The one md5/sha512 implementation: zero runs, bounded data, async feeding, stopping,
and the windowed copy that feeds it from reused buffers."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import threading
from pathlib import Path

import pytest

from cinderlite.datapath import streams
from cinderlite.datapath.extents import ZERO_BLOCK_SIZE
from cinderlite.datapath.hashing import ImageHasher, ParallelHasher, Progress
from cinderlite.datapath.streams import CopyStopped, copy_sparse
from cinderlite.datapath.sysio import BufferPool, Buffers
from tests.unit.datapath.files import sparse_file

MIB = 1 << 20


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


def _hasher_threads() -> int:
    return sum(t.name.startswith("hasher-") for t in threading.enumerate())


def test_zero_runs_and_data_hash_like_the_bytes_they_stand_for() -> None:
    a, b = os.urandom(5000), os.urandom(3 * MIB)
    progress = Progress()
    h = ParallelHasher(depth=1, progress=progress)
    h.zeros(ZERO_BLOCK_SIZE * 2 + 17)  # longer than the zero block: several updates
    h.update(a)
    h.zeros(0)
    h.zeros(1)
    h.update(memoryview(b))
    assert h.finish() == _digests(bytes(ZERO_BLOCK_SIZE * 2 + 17) + a + b"\0" + b)
    assert progress.done == ZERO_BLOCK_SIZE * 2 + 17 + len(a) + 1 + len(b)


def test_try_update_refuses_without_room_and_queues_nothing() -> None:
    release = threading.Event()
    blocked = threading.Event()

    def hold() -> None:
        blocked.set()
        release.wait(10)

    h = ParallelHasher(depth=1)
    h.update(b"first", hold)  # both threads call hold() once done with it, and stay there
    assert blocked.wait(10)
    h.update(b"second")  # takes the one place in each queue
    assert h.try_update(b"third") is False  # no room: refused, not queued
    release.set()
    h.update(b"fourth")
    assert h.finish() == _digests(b"firstsecondfourth")


def test_a_bad_chunk_is_reported_by_finish() -> None:
    h = ParallelHasher()
    h.update(b"ok")
    h.update("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.finish()


def test_abort_stops_a_long_zero_run() -> None:
    h = ParallelHasher()
    h.zeros(1 << 50)  # about a day of hashing: only the abort check ends it
    h.abort()  # joins the threads: returns only once they stopped
    assert not any(t.is_alive() for t in h._threads)


async def test_aupdate_waits_for_room_without_blocking_the_loop() -> None:
    release = threading.Event()
    h = ParallelHasher(depth=1)
    h.update(b"a", lambda: release.wait(10))  # both threads hold here once done with it
    await asyncio.to_thread(h.update, b"b")  # fills the queues
    task = asyncio.ensure_future(h.aupdate(b"c"))
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting for room ...
    ticks = 0
    for _ in range(3):  # ... while the loop keeps running
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 3
    release.set()
    await asyncio.wait_for(task, 10)
    assert await asyncio.to_thread(h.finish) == _digests(b"abc")


async def test_image_hasher_counts_caps_and_hashes_in_order() -> None:
    parts = [os.urandom(n) for n in (10, 70000, 4 * MIB, 5, 0)]
    h = ImageHasher(depth=2)
    for p in parts:
        await h.aupdate(p)
    d = await h.aresult()
    assert (d.checksum, d.os_hash_value) == _digests(b"".join(parts))
    assert d.size == sum(map(len, parts))
    assert h.result() is d  # idempotent


def test_a_dropped_image_hasher_stops_its_threads() -> None:
    before = _hasher_threads()
    h = ImageHasher()
    h.update(b"x" * 100)
    threads = list(h._engine._threads)
    del h
    gc.collect()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert _hasher_threads() <= before



@pytest.mark.parametrize("direct", [True, False])
def test_copy_of_many_small_extents_per_window(tmp_path: Path, direct: bool) -> None:
    # 4 KiB of data every 12 KiB, some of it zeros: windows of 64 KiB carry
    # several extents and the holes between them; only non-zero data is written.
    pieces = [(i * 12288, os.urandom(4096)) for i in range(0, 300)]
    pieces[5] = (pieces[5][0], bytes(4096))
    pieces.append((300 * 12288 + 100, b"unaligned tail"))
    size = 300 * 12288 + 4096 * 3 + 7
    want = sparse_file(tmp_path / "v", size, pieces)
    progress = Progress()
    result = copy_sparse(
        tmp_path / "v", tmp_path / "out", chunk_size=64 * 1024, progress=progress, direct=direct
    )
    assert (tmp_path / "out").read_bytes() == want
    assert (result.checksum, result.os_hash_value) == _digests(want)
    assert result.size == size == progress.done
    assert result.data_bytes < size // 2  # holes were not read
    assert (tmp_path / "out").stat().st_blocks * 512 < size // 2  # and not written


def test_copies_reuse_the_pooled_buffers(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pool = BufferPool(MIB, keep=streams.BUFFERS)
    monkeypatch.setattr(streams, "POOL", pool)
    want = sparse_file(tmp_path / "v", 6 * MIB, [(0, os.urandom(6 * MIB))])
    copy_sparse(tmp_path / "v", tmp_path / "o1", chunk_size=MIB)
    first = set(map(id, pool._idle))
    assert len(first) == streams.BUFFERS
    copy_sparse(tmp_path / "v", tmp_path / "o2", chunk_size=MIB)
    assert set(map(id, pool._idle)) == first  # the same blocks, not new ones
    assert (tmp_path / "o2").read_bytes() == want
    # A copy with another chunk size uses blocks of its own and leaves the pool alone.
    copy_sparse(tmp_path / "v", tmp_path / "o3", chunk_size=512 * 1024)
    assert set(map(id, pool._idle)) == first


def test_buffers_hand_a_block_back_after_its_last_user() -> None:
    pool = BufferPool(4096, keep=1)
    bufs = Buffers(1, 4096, pool)
    b = bufs.take(2)
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(bufs.take(1)))
    t.start()
    bufs.release(b)
    t.join(0.05)
    assert not got  # one user left: still taken
    bufs.release(b)
    t.join(10)
    assert got == [b]
    bufs.close()
    assert pool.idle == 1


def test_copy_stops_while_waiting_for_the_hashers(tmp_path: Path) -> None:
    # A 1 TiB hole: the copy thread queues it at once and then only waits for
    # the hashers, which would take about half an hour; stop must still work.
    with open(tmp_path / "v", "wb") as fh:
        fh.truncate(1 << 40)
    stop = threading.Event()
    progress = Progress()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            copy_sparse(tmp_path / "v", None, progress=progress, stop=stop)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    while progress.done == 0 and t.is_alive():
        t.join(0.01)  # hashing has started
    stop.set()
    t.join(60)
    assert not t.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], CopyStopped)
