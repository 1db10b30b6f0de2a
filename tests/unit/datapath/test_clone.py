"""copy_volume: exact bytes, holes kept, extension, refusals, the fallbacks, full disks, stop.

tmp_path is usually ext4 (no reflink), so these tests exercise the sparse
copy for real; the reflink path is exercised with a stand-in ioctl here and
for real on a loop-mounted XFS in tests/integration/datapath/.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cinderlite.datapath import clone
from cinderlite.datapath.clone import CloneResult, copy_volume
from cinderlite.datapath.extents import data_extents
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import CopyStopped, hash_file
from cinderlite.domain.errors import StorageFull
from tests.unit.datapath.files import write_sparse

MIB = 1 << 20
GIB = 1 << 30


def extents(path: Path) -> list[tuple[int, int]]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(data_extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def sha(path: Path) -> str:
    """sha512 of the file's bytes (holes hashed without reading them)."""
    return hash_file(path).os_hash_value


def no_reflink(monkeypatch: pytest.MonkeyPatch, code: int = errno.EOPNOTSUPP) -> list[int]:
    """Make FICLONE fail with `code`; returns the list of calls made."""
    calls: list[int] = []

    def refuse(dst_fd: int, src_fd: int) -> None:
        calls.append(dst_fd)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(clone, "ficlone", refuse)
    return calls


@pytest.fixture
def sparse_gib(tmp_path: Path) -> Path:
    """1 GiB, two 1 MiB extents of random data (one at an odd, unaligned end)."""
    path = tmp_path / "volume"
    write_sparse(path, GIB, [(5 * MIB, os.urandom(MIB)), (700 * MIB + 4096, os.urandom(MIB))])
    return path


def test_sparse_copy_of_a_gib_keeps_the_holes(
    tmp_path: Path, sparse_gib: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    dst = tmp_path / "copy"
    progress = Progress()
    result = copy_volume(sparse_gib, dst, size_bytes=GIB, progress=progress)
    assert result == CloneResult("sparse", 2 * MIB, GIB)
    assert dst.stat().st_size == GIB
    # Only the two data extents take space (a little slack for file system metadata).
    assert allocated(dst) <= 2 * MIB + 64 * 1024
    assert extents(dst) == extents(sparse_gib)
    assert sha(dst) == sha(sparse_gib)
    assert progress.total == progress.done == GIB


def test_whatever_the_method_the_copy_of_a_sparse_gib_stays_small(
    tmp_path: Path, sparse_gib: Path
) -> None:
    # No monkeypatch: a reflink where tmp_path allows it, else the sparse copy.
    dst = tmp_path / "copy"
    result = copy_volume(sparse_gib, dst, size_bytes=GIB)
    assert result.method in ("reflink", "sparse")
    assert allocated(dst) <= 2 * MIB + 64 * 1024
    assert sha(dst) == sha(sparse_gib)


@pytest.mark.parametrize("size", [8 * MIB, 5 * MIB + 123, 1])
def test_random_data_is_copied_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    no_reflink(monkeypatch)
    data = os.urandom(size)
    src = tmp_path / "src"
    src.write_bytes(data)
    result = copy_volume(src, tmp_path / "dst", size_bytes=size)
    assert result == CloneResult("sparse", size, size)
    assert hashlib.sha256((tmp_path / "dst").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_an_empty_volume_copies_to_an_empty_sparse_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    src = tmp_path / "src"
    write_sparse(src, 64 * MIB, [])
    result = copy_volume(src, tmp_path / "dst", size_bytes=64 * MIB)
    assert result == CloneResult("sparse", 0, 64 * MIB)
    assert allocated(tmp_path / "dst") == 0
    assert (tmp_path / "dst").stat().st_size == 64 * MIB


def test_a_larger_copy_ends_in_a_hole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_reflink(monkeypatch)
    data = os.urandom(3 * MIB + 5)
    src = tmp_path / "src"
    src.write_bytes(data)
    dst = tmp_path / "dst"
    result = copy_volume(src, dst, size_bytes=64 * MIB)
    assert result == CloneResult("sparse", len(data), 64 * MIB)
    got = dst.read_bytes()
    assert len(got) == 64 * MIB
    assert got[: len(data)] == data
    assert got[len(data) :] == bytes(64 * MIB - len(data))
    assert allocated(dst) <= 4 * MIB  # the extension takes no space


def test_a_smaller_size_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_sparse(src, 4 * MIB, [(0, b"x")])
    with pytest.raises(ValueError, match="cannot be made"):
        copy_volume(src, tmp_path / "dst", size_bytes=4 * MIB - 1)
    assert not (tmp_path / "dst").exists()


def test_an_existing_target_is_refused_and_left_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"new")
    dst = tmp_path / "dst"
    dst.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        copy_volume(src, dst, size_bytes=3)
    assert dst.read_bytes() == b"someone else's"


@pytest.mark.parametrize(
    "code", [errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS]
)
def test_a_refused_reflink_falls_back_to_the_sparse_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    calls = no_reflink(monkeypatch, code)
    src = tmp_path / "src"
    write_sparse(src, 32 * MIB, [(MIB, os.urandom(MIB)), (30 * MIB, os.urandom(100))])
    dst = tmp_path / "dst"
    result = copy_volume(src, dst, size_bytes=32 * MIB)
    assert len(calls) == 1
    assert result.method == "sparse"
    assert dst.read_bytes() == src.read_bytes()
    assert extents(dst) == extents(src)


def test_another_reflink_error_is_raised_and_the_target_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch, errno.EIO)
    src = tmp_path / "src"
    src.write_bytes(b"data")
    with pytest.raises(OSError, match="Input/output error") as info:
        copy_volume(src, tmp_path / "dst", size_bytes=4)
    assert info.value.errno == errno.EIO
    assert not (tmp_path / "dst").exists()


def fake_reflink(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A FICLONE stand-in that copies the whole source, as a reflink's result reads."""
    calls: list[int] = []

    def share(dst_fd: int, src_fd: int) -> None:
        calls.append(dst_fd)
        size = os.fstat(src_fd).st_size
        os.ftruncate(dst_fd, size)
        for start, length in data_extents(src_fd, size):
            os.pwrite(dst_fd, os.pread(src_fd, length, start), start)

    monkeypatch.setattr(clone, "ficlone", share)
    return calls


def test_a_reflink_is_extended_to_the_size_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_reflink(monkeypatch)
    moved: list[int] = []
    monkeypatch.setattr(os, "copy_file_range", lambda *a: moved.append(1) or 0)
    src = tmp_path / "src"
    data = os.urandom(MIB)
    src.write_bytes(data)
    dst = tmp_path / "dst"
    progress = Progress()
    result = copy_volume(src, dst, size_bytes=8 * MIB, progress=progress)
    assert result == CloneResult("reflink", 0, 8 * MIB)
    assert len(calls) == 1
    assert not moved  # nothing copied besides the reflink
    assert dst.read_bytes() == data + bytes(7 * MIB)
    assert progress.total == progress.done == MIB


def test_the_reflink_uses_the_ficlone_ioctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []

    def ioctl(fd: int, request: int, arg: int) -> int:
        seen.append((fd, request, arg))
        raise OSError(errno.ENOTTY, "not a typewriter")

    monkeypatch.setattr(clone.fcntl, "ioctl", ioctl)
    src = tmp_path / "src"
    src.write_bytes(b"abc")
    assert copy_volume(src, tmp_path / "dst", size_bytes=3).method == "sparse"
    assert [request for _, request, _ in seen] == [0x40049409]  # FICLONE, linux/fs.h
    assert seen[0][0] != seen[0][2]  # the target's descriptor, then the source's


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS])
def test_without_copy_file_range_it_reads_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    no_reflink(monkeypatch)
    calls: list[int] = []

    def refuse(*args: Any) -> int:
        calls.append(1)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    monkeypatch.setattr(clone, "STEP", 3 * MIB)  # several steps per extent
    src = tmp_path / "src"
    write_sparse(
        src,
        64 * MIB,
        [(MIB, os.urandom(10 * MIB)), (20 * MIB, bytes(2 * MIB)), (40 * MIB, os.urandom(7))],
    )
    dst = tmp_path / "dst"
    result = copy_volume(src, dst, size_bytes=64 * MIB)
    assert len(calls) == 1  # refused once, never asked again
    assert result.bytes_copied == sum(n for _, n in extents(src))  # 12 MiB + a block
    assert dst.read_bytes() == src.read_bytes()
    # Written zeros are left as holes by the read/write copy.
    assert allocated(dst) <= 10 * MIB + 64 * 1024


def test_a_copy_file_range_that_copies_nothing_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    monkeypatch.setattr(os, "copy_file_range", lambda *a: 0)
    src = tmp_path / "src"
    data = os.urandom(3 * MIB)
    src.write_bytes(data)
    result = copy_volume(src, tmp_path / "dst", size_bytes=3 * MIB)
    assert result.bytes_copied == 3 * MIB
    assert (tmp_path / "dst").read_bytes() == data


def test_without_os_copy_file_range_it_reads_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    monkeypatch.delattr(os, "copy_file_range")
    src = tmp_path / "src"
    data = os.urandom(MIB + 1)
    src.write_bytes(data)
    assert copy_volume(src, tmp_path / "dst", size_bytes=MIB + 1).bytes_copied == MIB + 1
    assert (tmp_path / "dst").read_bytes() == data


def failing(code: int, after: int = 0) -> Callable[..., Any]:
    """A replacement for an os function that works `after` times, then fails with `code`."""

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        count = [0]

        def fn(*args: Any) -> Any:
            count[0] += 1
            if count[0] > after:
                raise OSError(code, os.strerror(code))
            return real(*args)

        return fn

    return wrap


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("where", ["copy_file_range", "pwrite", "fsync", "ficlone"])
def test_a_full_disk_is_storage_full_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, where: str
) -> None:
    monkeypatch.setattr(clone, "STEP", MIB)
    if where == "ficlone":
        no_reflink(monkeypatch, code)  # btrfs can run out of metadata space here
    else:
        no_reflink(monkeypatch)
    if where == "pwrite":  # the read/write fallback
        monkeypatch.delattr(os, "copy_file_range")
    if where in ("copy_file_range", "pwrite", "fsync"):
        after = 0 if where == "fsync" else 2  # a few steps in, or the one fsync
        monkeypatch.setattr(os, where, failing(code, after=after)(getattr(os, where)))
    src = tmp_path / "src"
    src.write_bytes(os.urandom(5 * MIB))
    dst = tmp_path / "dst"
    with pytest.raises(StorageFull) as info:
        copy_volume(src, dst, size_bytes=5 * MIB)
    assert info.value.message == (
        f"Not enough space for a copy of the volume's data: {os.strerror(code)}"
    )
    assert not dst.exists()
    assert src.stat().st_size == 5 * MIB


def test_too_large_a_size_for_the_file_system_is_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    src = tmp_path / "src"
    src.write_bytes(b"x")
    with pytest.raises(StorageFull, match="File too large"):
        copy_volume(src, tmp_path / "dst", size_bytes=1 << 62)  # EFBIG from ftruncate
    assert not (tmp_path / "dst").exists()


def test_stop_ends_the_copy_and_removes_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    monkeypatch.setattr(clone, "STEP", MIB)
    stop = threading.Event()
    real = os.copy_file_range
    calls: list[int] = []

    def copy_then_stop(*args: Any) -> int:
        calls.append(1)
        stop.set()  # as a cancelled caller would, while the copy runs
        return real(*args)

    monkeypatch.setattr(os, "copy_file_range", copy_then_stop)
    src = tmp_path / "src"
    src.write_bytes(os.urandom(8 * MIB))
    with pytest.raises(CopyStopped):
        copy_volume(src, tmp_path / "dst", size_bytes=8 * MIB, stop=stop)
    assert len(calls) == 1  # the next step saw the flag
    assert not (tmp_path / "dst").exists()


def test_a_stop_set_before_the_start_copies_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data")
    stop = threading.Event()
    stop.set()
    with pytest.raises(CopyStopped):
        copy_volume(src, tmp_path / "dst", size_bytes=4, stop=stop)
    assert not (tmp_path / "dst").exists()


def test_the_copy_is_fsynced_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    src = tmp_path / "src"
    src.write_bytes(b"x" * 100)
    copy_volume(src, tmp_path / "dst", size_bytes=200)
    assert synced == [200]  # the target, at its final length
