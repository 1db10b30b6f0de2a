"""Fixtures shared by the integration tests: small real file systems for full-disk tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MiB = 1 << 20


def _can_mount() -> str | None:
    """Why a loop-mounted file system cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting a small file system needs root"
    if shutil.which("mkfs.ext4") is None:
        return "mkfs.ext4 (e2fsprogs) is missing"
    return None


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Callable[[Path, int], Path]]:
    """mount(where, size_mib): a fresh ext4 of that size loop-mounted at `where`
    (created if missing), unmounted and removed after the test.

    ext4 keeps some space for itself: `df` shows a few MiB less than `size_mib`.
    """
    reason = _can_mount()
    if reason is not None:
        pytest.skip(reason)
    mounted: list[Path] = []

    def mount(where: Path, size_mib: int) -> Path:
        backing = tmp_path / f"fs-{len(mounted)}.img"
        with backing.open("wb") as fh:
            fh.truncate(size_mib * MiB)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(backing)], check=True,
                       capture_output=True)
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", str(backing), str(where)], check=True,
                       capture_output=True)
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
