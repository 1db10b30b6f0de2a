"""copy_volume on real file systems mounted for the test: a reflink on XFS, the
fallbacks the kernel itself forces (tmpfs has no FICLONE, a copy across file
systems gets EXDEV from both FICLONE and copy_file_range), and a full ext4.

Mounting needs root; XFS also needs mkfs.xfs (Debian package xfsprogs).
Without them the tests are skipped and say why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cinderlite.datapath.clone import CloneResult, copy_volume
from cinderlite.datapath.extents import data_extents
from cinderlite.domain.errors import StorageFull
from tests.integration.conftest import free_bytes
from tests.unit.datapath.files import write_sparse

pytestmark = pytest.mark.integration

MiB = 1 << 20
GiB = 1 << 30
# The smallest XFS that mkfs.xfs makes is 300 MiB; the image file is sparse.
XFS_MIB = 512

Mount = Callable[[Path], Path]


def _why_not(tool: str | None) -> str | None:
    if os.geteuid() != 0:
        return "mounting a file system needs root"
    if tool is not None and shutil.which(tool) is None:
        package = {"mkfs.xfs": "xfsprogs"}.get(tool, tool)
        return f"{tool} is missing (Debian package {package})"
    return None


@contextlib.contextmanager
def _mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    try:
        yield mounted
    finally:
        for where in reversed(mounted):
            with contextlib.suppress(subprocess.CalledProcessError):
                subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


@pytest.fixture
def xfs(tmp_path: Path) -> Iterator[Mount]:
    """mount(where): a fresh XFS (reflink on, as mkfs.xfs makes it by default) at `where`."""
    reason = _why_not("mkfs.xfs")
    if reason is not None:
        pytest.skip(reason)
    with _mounts() as mounted:

        def mount(where: Path) -> Path:
            backing = tmp_path / f"xfs-{len(mounted)}.img"
            with backing.open("wb") as fh:
                fh.truncate(XFS_MIB * MiB)
            subprocess.run(
                ["mkfs.xfs", "-q", "-f", "-m", "reflink=1", str(backing)],
                check=True,
                capture_output=True,
            )
            where.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["mount", "-o", "loop", str(backing), str(where)], check=True, capture_output=True
            )
            mounted.append(where)
            return where

        yield mount


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, int], Path]]:
    """mount(where, size_mib): a tmpfs of that size at `where`."""
    reason = _why_not(None)
    if reason is not None:
        pytest.skip(reason)
    with _mounts() as mounted:

        def mount(where: Path, size_mib: int) -> Path:
            where.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)],
                check=True,
                capture_output=True,
            )
            mounted.append(where)
            return where

        yield mount


def extents(path: Path) -> list[tuple[int, int]]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return list(data_extents(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)


def data_bytes(path: Path) -> int:
    """Bytes in data extents: 4 MiB and the blocks an unaligned extent touches."""
    return sum(n for _, n in extents(path))


def content(path: Path) -> tuple[int, list[tuple[int, bytes]]]:
    """The file's length and its data extents with their bytes: equal for two files
    exactly when their bytes are, and cheap to compare for mostly-hole files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        return size, [(start, os.pread(fd, n, start)) for start, n in data_extents(fd, size)]
    finally:
        os.close(fd)


def volume(path: Path, size: int) -> Path:
    """A sparse volume of `size` bytes with 4 MiB of random data, the last at its end."""
    write_sparse(
        path,
        size,
        [(0, os.urandom(MiB)), (size // 3, os.urandom(2 * MiB)), (size - MiB, os.urandom(MiB))],
    )
    return path


def test_on_xfs_a_snapshot_of_8_gib_is_a_reflink_that_shares_the_blocks(
    tmp_path: Path, xfs: Mount
) -> None:
    fs = xfs(tmp_path / "xfs")
    src = volume(fs / "volume", 8 * GiB)
    os.sync()
    free = free_bytes(fs)
    dst = fs / "snapshot"
    result = copy_volume(src, dst, size_bytes=8 * GiB)
    assert result == CloneResult("reflink", 0, 8 * GiB)
    assert content(dst) == content(src)
    # Shared, not copied: the 4 MiB of data took no new space.
    assert free - free_bytes(fs) < MiB
    # Copy on write: the snapshot keeps its bytes when the volume changes.
    before = content(dst)
    with src.open("r+b") as fh:
        fh.write(b"new data")
    assert content(dst) == before != content(src)


def test_on_xfs_a_larger_clone_is_a_reflink_then_a_hole(tmp_path: Path, xfs: Mount) -> None:
    fs = xfs(tmp_path / "xfs")
    src = volume(fs / "volume", 64 * MiB)
    dst = fs / "clone"
    result = copy_volume(src, dst, size_bytes=3 * GiB)
    assert result == CloneResult("reflink", 0, 3 * GiB)
    assert dst.stat().st_size == 3 * GiB
    _, pieces = content(src)
    assert content(dst) == (3 * GiB, pieces)  # the same data, then a hole to the end


def test_across_file_systems_the_copy_is_sparse(tmp_path: Path, xfs: Mount) -> None:
    # FICLONE and copy_file_range both answer EXDEV: the read/write copy runs.
    fs = xfs(tmp_path / "xfs")
    src = volume(fs / "volume", GiB)
    dst = tmp_path / "clone"
    result = copy_volume(src, dst, size_bytes=GiB)
    assert result == CloneResult("sparse", data_bytes(src), GiB)
    assert content(dst) == content(src)
    assert dst.stat().st_blocks * 512 <= 4 * MiB + 64 * 1024


def test_on_tmpfs_without_reflinks_the_copy_is_sparse(
    tmp_path: Path, tmpfs: Callable[[Path, int], Path]
) -> None:
    fs = tmpfs(tmp_path / "tmpfs", 64)
    src = volume(fs / "volume", GiB)
    dst = fs / "snapshot"
    result = copy_volume(src, dst, size_bytes=GiB)
    assert result == CloneResult("sparse", data_bytes(src), GiB)
    assert content(dst) == content(src)


@pytest.mark.parametrize("src_where", ["same", "other"])
def test_a_full_ext4_is_storage_full_and_leaves_no_file(
    tmp_path: Path, small_filesystem: Callable[[Path, int], Path], src_where: str
) -> None:
    # "same": copy_file_range within the small file system; "other": the source
    # is elsewhere, copy_file_range answers EXDEV and the read/write copy fills it.
    fs = small_filesystem(tmp_path / "ext4", 48)
    src_dir = fs if src_where == "same" else tmp_path
    # Same: the source takes 2/3 of the space, its copy cannot fit. Other: the
    # source is 3/2 of it.
    data = os.urandom(free_bytes(fs) * (4 if src_where == "same" else 9) // 6)
    src = src_dir / "volume"
    src.write_bytes(data)
    os.sync()
    free = free_bytes(fs)
    dst = fs / "snapshot"
    with pytest.raises(StorageFull, match=r"^Not enough space for a copy of the volume's data"):
        copy_volume(src, dst, size_bytes=len(data) + GiB)
    assert not dst.exists()
    os.sync()
    assert free_bytes(fs) >= free - MiB  # the partial copy's blocks are free again
    assert src.read_bytes() == data
    # What fits is copied once there is room.
    src.unlink()
    small = src_dir / "small"
    small.write_bytes(os.urandom(MiB))
    assert copy_volume(small, dst, size_bytes=MiB).bytes_copied == MiB
    assert dst.read_bytes() == small.read_bytes()
