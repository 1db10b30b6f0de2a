"""The faster data path: reused buffers, O_DIRECT writes, early writeback, background priority."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path

import pytest

from cinderlite.datapath import qemu, streams
from cinderlite.datapath.extents import is_zero
from cinderlite.datapath.hashing import ParallelHasher
from cinderlite.datapath.streams import copy_sparse, fsync_path, run_blocking
from cinderlite.datapath.sysio import BACKGROUND_NICE, lower_thread_priority, start_writeback
from tests.unit.datapath.files import sparse_file

MIB = 1 << 20



@pytest.mark.parametrize("direct", [True, False])
def test_many_chunks_through_few_reused_buffers_stay_intact(tmp_path: Path, direct: bool) -> None:
    # 40 distinct data chunks through 4 buffers: a buffer reused before both
    # hashers and the writer were done with it would corrupt output or digests.
    pieces = [(i * 256 * 1024, os.urandom(256 * 1024)) for i in range(0, 80, 2)]
    pieces.append((80 * 256 * 1024 + 5, b"unaligned tail"))
    want = sparse_file(tmp_path / "v", 80 * 256 * 1024 + 4096 + 3, pieces)
    result = copy_sparse(tmp_path / "v", tmp_path / "out", chunk_size=256 * 1024, direct=direct)
    assert (tmp_path / "out").read_bytes() == want
    assert result.checksum == hashlib.md5(want).hexdigest()
    assert result.os_hash_value == hashlib.sha512(want).hexdigest()


def test_direct_writes_are_used_for_aligned_chunks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if streams.open_direct(tmp_path) == -1 and not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    seen: list[int] = []
    real = streams.ImageWriter._write

    def spy(self, offset, chunk):  # type: ignore[no-untyped-def]
        buffered = real(self, offset, chunk)
        seen.append(int(buffered))
        return buffered

    monkeypatch.setattr(streams.ImageWriter, "_write", spy)
    want = sparse_file(tmp_path / "v", 4 * MIB, [(0, os.urandom(4 * MIB))])
    copy_sparse(tmp_path / "v", tmp_path / "out", chunk_size=MIB)
    assert (tmp_path / "out").read_bytes() == want
    fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    direct_fd = streams.open_direct(tmp_path / "probe")
    if direct_fd == -1:
        assert seen == [1, 1, 1, 1]  # the file system refuses O_DIRECT: all buffered
    else:
        os.close(direct_fd)
        assert seen == [0, 0, 0, 0]


def test_writer_falls_back_to_buffered_when_direct_write_is_refused(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    direct = os.open(tmp_path / "out", os.O_WRONLY)
    real = streams.pwrite_all
    calls: list[int] = []

    def picky(f: int, data, offset: int) -> None:  # type: ignore[no-untyped-def]
        calls.append(f)
        if f == direct:
            raise OSError(22, "Invalid argument")  # EINVAL: e.g. a 64K-aligned device
        real(f, data, offset)

    monkeypatch.setattr(streams, "pwrite_all", picky)
    try:
        w = streams.ImageWriter(fd, direct_fd=direct)
        w.put(0, b"a" * 4096)
        w.put(4096, b"b" * 4096)
        w.close()
    finally:
        os.close(fd)
        os.close(direct)
    assert (tmp_path / "out").read_bytes() == b"a" * 4096 + b"b" * 4096
    assert calls == [direct, fd, fd]  # one refusal, then buffered only


def test_writer_surfaces_real_direct_write_errors(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    bogus = os.open(tmp_path / "other", os.O_RDONLY | os.O_CREAT, 0o600)  # write -> EBADF
    try:
        w = streams.ImageWriter(fd, direct_fd=bogus)
        w.put(0, b"x" * 4096)
        with pytest.raises(OSError, match="Bad file descriptor"):
            w.close()  # EBADF is not EINVAL: raised, never swallowed
    finally:
        os.close(fd)
        os.close(bogus)


def test_start_writeback_is_advisory(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"a" * 8192, 0)
        assert start_writeback(fd, 0, 8192) in (True, False)
        assert start_writeback(fd, 0, 0) is False
        assert start_writeback(-1, 0, 4096) is False  # a bad fd is not an exception
    finally:
        os.close(fd)
    fsync_path(tmp_path / "f")


def test_is_zero_checks_views_and_buffers_without_copying() -> None:
    buf = bytearray(3 * MIB)
    assert is_zero(buf)
    assert is_zero(memoryview(buf)[MIB:])
    buf[2 * MIB + 7] = 1
    assert not is_zero(buf)
    assert is_zero(memoryview(buf)[: 2 * MIB])
    assert not is_zero(memoryview(buf)[2 * MIB :])
    big = bytearray(20 * MIB)
    assert is_zero(big)
    big[17 * MIB] = 9
    assert not is_zero(big)


def _nice_of_current_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_lower_thread_priority_touches_only_the_calling_thread() -> None:
    before = _nice_of_current_thread()
    seen: list[int] = []

    def work() -> None:
        lower_thread_priority()
        seen.append(_nice_of_current_thread())
        child = threading.Thread(target=lambda: seen.append(_nice_of_current_thread()))
        child.start()
        child.join()

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [max(before, BACKGROUND_NICE)] * 2  # inherited by threads it starts
    assert _nice_of_current_thread() == before


async def test_copy_threads_run_at_background_priority() -> None:
    loop_nice = _nice_of_current_thread()

    def work(*, stop: threading.Event) -> int:
        return _nice_of_current_thread()

    assert await run_blocking(work, stop=threading.Event()) == max(loop_nice, BACKGROUND_NICE)
    assert _nice_of_current_thread() == loop_nice  # the event loop thread is untouched


def test_hasher_releases_every_chunk_even_when_aborted() -> None:
    released: list[int] = []
    h = ParallelHasher(depth=1)
    for i in range(5):
        h.update(b"x" * 10, lambda i=i: released.append(i))
    h.abort()
    assert sorted(released) == sorted(list(range(5)) * 2)  # two hashers, once each


async def test_qemu_img_runs_niced() -> None:
    # qemu-img is the real binary; `--version` is enough to see the preexec run.
    # The niceness is checked on a shell started the same way (same preexec).
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", "cut -d' ' -f19 /proc/self/stat", stdout=asyncio.subprocess.PIPE,
        preexec_fn=lambda: qemu._limits(60, 0, BACKGROUND_NICE),
    )
    out, _ = await proc.communicate()
    assert int(out) == min(_nice_of_current_thread() + BACKGROUND_NICE, 19)
    assert "qemu-img version" in (await qemu.run(["qemu-img", "--version"]))


async def test_qemu_img_limits_and_niceness_without_forking_the_service() -> None:
    # _spawn starts commands under prlimit + nice (vfork-able, no preexec_fn);
    # a shell started that way reports the limits and niceness it runs with.
    if qemu._PRLIMIT is None or qemu._NICE is None:
        pytest.skip("prlimit/nice not installed: the preexec_fn path is used")
    limits = qemu.QemuLimits(cpu_seconds=77, address_space=1 << 30, nice=BACKGROUND_NICE)
    proc = await qemu._spawn(
        ["sh", "-c", "ulimit -t; ulimit -v; cut -d' ' -f19 /proc/self/stat"], limits
    )
    out, _ = await proc.communicate()
    cpu, vmem, nice = out.decode().split()
    assert (int(cpu), int(vmem)) == (77, (1 << 30) // 1024)
    assert int(nice) == min(_nice_of_current_thread() + BACKGROUND_NICE, 19)
    assert proc.returncode == 0


async def test_qemu_img_missing_is_a_conversion_failure() -> None:
    with pytest.raises(qemu.ConversionFailed, match="not installed"):
        await qemu._spawn(["no-such-qemu-img-binary", "info"], None)
