"""Point-in-time copies of volume files: the bytes of snapshots and clones.

`copy_volume(src, dst, size_bytes=...)` makes the new file `dst` hold what
`src` holds, then extends it to `size_bytes` with a hole (a clone may be
larger than its source). Two ways, the cheaper first:

- **reflink**: the FICLONE ioctl makes `dst` share `src`'s extents (XFS made
  with reflink, btrfs). O(1) in the data: nothing is read or written, and
  either file's later writes go to new blocks (copy on write). Atomic, so the
  copy is of one instant even if `src` is being written.
- **sparse copy**: where the file system refuses (ext4, tmpfs, `src` and `dst`
  on different file systems), only `src`'s data extents are copied
  (SEEK_DATA/SEEK_HOLE, `extents.data_extents`); holes stay holes. Each extent
  goes through `copy_file_range` (in the kernel, no user-space buffer; on a
  file system that can share extents the kernel may share them itself), or,
  where the kernel refuses that, is read with preadv into a pooled buffer and
  written with `streams.pwrite_sparse`, which also leaves all-zero blocks
  unwritten. This copy is of one instant only if nobody writes `src` while it
  runs: the caller makes sure of that (the volume's status).

Blocking: run it in a worker thread, ideally with `streams.run_blocking`,
which gives it background priority and turns a cancellation into `stop`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cinderlite.datapath.extents import data_extents
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import (
    NO_SPACE,
    POOL,
    CopyStopped,
    pwrite_sparse,
    read_full,
)
from cinderlite.datapath.sysio import start_writeback
from cinderlite.domain.errors import StorageFull

# _IOW(0x94, 9, int) from linux/fs.h: make the target share all of the source's extents.
FICLONE = 0x40049409
# errno values of a FICLONE that the file system (or the pair of files) cannot
# do: the copy falls back to the sparse copy. EOPNOTSUPP: no reflink support
# (ext4, XFS without reflink); EXDEV: different file systems; EINVAL: the file
# system cannot share these ranges; ENOTTY: no such ioctl here (tmpfs, FUSE).
NO_REFLINK = frozenset({errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS})
# errno values of copy_file_range that mean "not for these files" (an old
# kernel, a cross-file-system copy, a file system without it): the rest of the
# copy reads and writes.
NO_COPY_FILE_RANGE = frozenset({errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS})
# Bytes per copy_file_range call, or per read/write: how often the copy looks
# at `stop`, updates `progress` and starts the kernel's writeback (so the final
# fsync has little left to do). The read/write fallback uses POOL's buffers.
STEP = 64 << 20

Method = Literal["reflink", "sparse"]


@dataclass(frozen=True)
class CloneResult:
    """How `copy_volume` made its copy."""

    method: Method  # "reflink" (extents shared) or "sparse" (data extents copied)
    bytes_copied: int  # data bytes read and written (0 for a reflink)
    size: int  # length of the copy (size_bytes)


def ficlone(dst_fd: int, src_fd: int) -> None:
    """Make `dst_fd` share every extent of `src_fd` (its content and length)."""
    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def copy_volume(
    src: Path,
    dst: Path,
    *,
    size_bytes: int,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> CloneResult:
    """Write the new file `dst` as a copy of `src`, `size_bytes` long, and fsync it.

    `size_bytes` must be at least `src`'s length (ValueError otherwise, and
    nothing is created); the part beyond it reads as zeros and takes no space.
    A reflink is tried first, the sparse copy (module docstring) when the file
    system refuses it.

    The contract with the caller:
    - `dst` must not exist: it is created here with O_EXCL (FileExistsError,
      and the existing file is left alone, otherwise).
    - On return, `dst`'s data and length are on the disk (fsynced). Its
      directory entry is not: a caller that needs the name to survive a crash
      renames `dst` into place and fsyncs the directory, as the stores do.
    - On any error (StorageFull when the disk or quota is full, CopyStopped
      when `stop` was set, or anything else) `dst` has been removed before the
      exception propagates: there is never a partial copy to clean up.
    - `progress.total` is `src`'s length; `progress.done` moves to it as the
      copy goes (at once for a reflink).
    """
    src_fd = os.open(src, os.O_RDONLY)
    try:
        src_size = os.fstat(src_fd).st_size
        if size_bytes < src_size:
            raise ValueError(
                f"a copy of {src_size} bytes cannot be made {size_bytes} bytes long"
            )
        if progress is not None:
            progress.total = src_size
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            result = _fill(src_fd, dst_fd, src_size, size_bytes, progress, stop)
            os.fsync(dst_fd)  # delayed allocation: a full disk can show up only here
        except BaseException as exc:
            os.close(dst_fd)
            dst_fd = -1
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dst)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                raise _full(exc.strerror) from exc
            if isinstance(exc, StorageFull):  # from pwrite_sparse, worded for images
                cause = exc.__cause__
                raise _full(cause.strerror if isinstance(cause, OSError) else None) from exc
            raise
        finally:
            if dst_fd >= 0:
                os.close(dst_fd)
    finally:
        os.close(src_fd)
    if progress is not None:
        progress.done = src_size
    return result


def _full(reason: str | None) -> StorageFull:
    return StorageFull(
        f"Not enough space for a copy of the volume's data: {reason or 'storage full'}"
    )


def _fill(
    src_fd: int, dst_fd: int, src_size: int, size_bytes: int,
    progress: Progress | None, stop: threading.Event | None,
) -> CloneResult:
    """Make the empty file `dst_fd` a copy of `src_fd`, `size_bytes` long (not fsynced)."""
    _check_stop(stop)
    try:
        ficlone(dst_fd, src_fd)
    except OSError as exc:
        if exc.errno not in NO_REFLINK:
            raise
    else:
        if size_bytes > src_size:
            os.ftruncate(dst_fd, size_bytes)
        return CloneResult("reflink", 0, size_bytes)
    # The length first: the copies below then write inside the file, and what
    # they skip is a hole.
    os.ftruncate(dst_fd, size_bytes)
    copier = _Copier(src_fd, dst_fd, progress, stop)
    for start, length in data_extents(src_fd, src_size):
        copier.copy(start, length)
    return CloneResult("sparse", copier.copied, size_bytes)


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CopyStopped()


class _Copier:
    """Copies ranges at the same offset from `src_fd` to `dst_fd`, STEP bytes at a time:
    copy_file_range until the kernel refuses it for these files, then read/write."""

    def __init__(
        self, src_fd: int, dst_fd: int, progress: Progress | None, stop: threading.Event | None
    ) -> None:
        self._src = src_fd
        self._dst = dst_fd
        self._progress = progress
        self._stop = stop
        self._kernel = hasattr(os, "copy_file_range")
        self.copied = 0

    def copy(self, offset: int, length: int) -> None:
        end = offset + length
        while offset < end:
            _check_stop(self._stop)
            n = min(STEP, end - offset)
            moved = self._kernel_step(offset, n) if self._kernel else None
            if not moved:
                # Refused, or nothing copied: the read tells whether `src` ended.
                moved = self._buffered_step(offset, n)
            if moved == 0:  # `src` is shorter than it was: the rest reads as zeros
                return
            start_writeback(self._dst, offset, moved)
            offset += moved
            self.copied += moved
            if self._progress is not None:
                self._progress.done = offset

    def _kernel_step(self, offset: int, n: int) -> int | None:
        """Up to `n` bytes with copy_file_range; None when it is not for these files."""
        try:
            moved = os.copy_file_range(self._src, self._dst, n, offset, offset)
        except OSError as exc:
            if exc.errno not in NO_COPY_FILE_RANGE:
                raise
            self._kernel = False
            return None
        if moved == 0:
            # The end of `src`, or a file system that copies nothing without
            # saying why (some special files do): the caller reads instead,
            # and so does the rest of the copy.
            self._kernel = False
        return moved

    def _buffered_step(self, offset: int, n: int) -> int:
        """Up to `n` bytes (at most a pool buffer's) with preadv and pwrite_sparse."""
        buf = POOL.get()
        try:
            view = memoryview(buf)[: min(n, len(buf))]
            got = read_full(self._src, view, offset)
            pwrite_sparse(self._dst, view[:got], offset)
            del view  # no view of the buffer may outlive its return to the pool
            return got
        finally:
            POOL.put(buf)
