"""Sparse copy with parallel md5/sha512, stop requests, ENOSPC translation."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import threading
from pathlib import Path

import pytest

from cinderlite.datapath.compress import gzip_file
from cinderlite.datapath.hashing import ParallelHasher, Progress
from cinderlite.datapath.streams import (
    CopyStopped,
    copy_sparse,
    hash_file,
    pwrite_all,
    run_blocking,
)
from cinderlite.domain.errors import StorageFull
from tests.unit.datapath.files import sparse_file

MIB = 1 << 20



def test_copy_sparse_copies_bytes_and_hashes_holes_as_zeros(tmp_path: Path) -> None:
    want = sparse_file(
        tmp_path / "v",
        20 * MIB + 7,
        [
            (3 * MIB, os.urandom(MIB)),
            (9 * MIB, bytes(MIB)),  # written zeros
            (20 * MIB, b"tail!!!"),
        ],
    )
    progress = Progress()
    result = copy_sparse(tmp_path / "v", tmp_path / "out", chunk_size=2 * MIB, progress=progress)
    out = tmp_path / "out"
    assert out.read_bytes() == want
    assert result.size == len(want) == progress.total == progress.done
    assert result.checksum == hashlib.md5(want).hexdigest()
    assert result.os_hash_algo == "sha512"
    assert result.os_hash_value == hashlib.sha512(want).hexdigest()
    # Holes were not read, written zero chunks were not written.
    assert result.data_bytes < 4 * MIB
    assert out.stat().st_blocks * 512 <= 2 * MIB


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    want = sparse_file(tmp_path / "v", 5 * MIB, [(MIB, os.urandom(1000))])
    result = hash_file(tmp_path / "v")
    assert (result.checksum, result.os_hash_value) == (
        hashlib.md5(want).hexdigest(),
        hashlib.sha512(want).hexdigest(),
    )


def test_copy_refuses_an_existing_destination(tmp_path: Path) -> None:
    sparse_file(tmp_path / "v", MIB, [])
    (tmp_path / "out").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        copy_sparse(tmp_path / "v", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"keep"


def test_copy_stops_when_asked(tmp_path: Path) -> None:
    sparse_file(tmp_path / "v", 8 * MIB, [(0, b"x")])
    stop = threading.Event()
    stop.set()
    with pytest.raises(CopyStopped):
        copy_sparse(tmp_path / "v", tmp_path / "out", stop=stop)


def test_pwrite_all_translates_enospc(tmp_path: Path) -> None:
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(StorageFull, match="full"):
            pwrite_all(fd, b"data", 0)
    finally:
        os.close(fd)


def test_parallel_hasher_equals_serial_hashes() -> None:
    chunks = [os.urandom(3000), b"", memoryview(bytes(10000)), os.urandom(1 << 16)]
    h = ParallelHasher(depth=1)
    for c in chunks:
        h.update(c)
    md5, sha = h.finish()
    joined = b"".join(bytes(c) for c in chunks)
    assert md5 == hashlib.md5(joined).hexdigest()
    assert sha == hashlib.sha512(joined).hexdigest()


def test_gzip_file_round_trips(tmp_path: Path) -> None:
    want = sparse_file(tmp_path / "v", 9 * MIB, [(2 * MIB, os.urandom(MIB))])
    result = gzip_file(tmp_path / "v", tmp_path / "v.gz")
    data = (tmp_path / "v.gz").read_bytes()
    assert gzip.decompress(data) == want
    assert result.size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()


async def test_run_blocking_cancel_sets_stop_and_waits_for_the_thread() -> None:
    started = threading.Event()
    finished = threading.Event()

    def work(*, stop: threading.Event) -> None:
        started.set()
        stop.wait(10)
        finished.set()
        raise CopyStopped()

    stop = threading.Event()
    task = asyncio.ensure_future(run_blocking(work, stop=stop))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.is_set()
    assert finished.is_set()


async def test_run_blocking_returns_and_raises() -> None:
    def ok(x: int, *, stop: threading.Event) -> int:
        return x + 1

    def bad(*, stop: threading.Event) -> None:
        raise ValueError("boom")

    assert await run_blocking(ok, 1, stop=threading.Event()) == 2
    with pytest.raises(ValueError, match="boom"):
        await run_blocking(bad, stop=threading.Event())


async def test_run_blocking_survives_a_second_cancel() -> None:
    release = threading.Event()

    def work(*, stop: threading.Event) -> str:
        stop.wait(10)
        release.wait(10)
        return "done"

    stop = threading.Event()
    task = asyncio.ensure_future(run_blocking(work, stop=stop))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # a second party cancels while the thread is still finishing
    await asyncio.sleep(0.05)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stop.is_set()
