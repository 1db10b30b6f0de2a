"""Blocking byte movers for the upload data path: sparse copy + parallel hashing.

Everything here runs in worker threads (see `run_blocking`): the source's data
is read once, with `os.preadv`, into a few reused page-aligned buffers (a
process-wide pool, see `sysio`), a window of up to CHUNK_SIZE bytes at a time
(small extents close together share one window); holes are never read
(SEEK_DATA/SEEK_HOLE) but hashed as runs of zeros from a shared zero block;
md5 and sha512 each run in their own thread over the same buffers
(`hashing.ParallelHasher`), and a writer thread writes the data ranges from
them to a sparse destination, with `O_DIRECT` where it can. So hashing and
writing overlap reading, every data byte is read once and copied once, and
memory stays at a few chunks.

The worker threads run at a lower CPU (and I/O) priority than the event loop
(`lower_thread_priority`), so the APIs stay responsive while uploads run;
buffered writes start the kernel's writeback as they go (`start_writeback`),
so the fsync before an image becomes active has little left to do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import mmap
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cinderlite.datapath.extents import (
    ZERO_BLOCK,
    ZERO_BLOCK_SIZE,
    data_extents,
    is_zero,
    windows,
)
from cinderlite.datapath.hashing import HASH_ALGO, ParallelHasher, Progress
from cinderlite.datapath.sysio import (
    BufferPool,
    Buffers,
    lower_thread_priority,
    start_writeback,
)
from cinderlite.domain.errors import StorageFull

CHUNK_SIZE = ZERO_BLOCK_SIZE
# Buffers per copy: bounds its memory (x CHUNK_SIZE) and the work in flight.
BUFFERS = 4
# Buffers of CHUNK_SIZE kept for reuse between copies (one copy's worth; a
# second copy at the same time allocates its own).
POOL = BufferPool(CHUNK_SIZE, keep=BUFFERS)
# The writer asks the kernel to start writeback every this many bytes written
# (buffered writes only; O_DIRECT writes are on the disk when pwrite returns).
WRITEBACK_EVERY = 32 << 20
# O_DIRECT needs offsets, lengths and buffer addresses aligned to the device's
# logical block size; 4096 covers 512-byte and 4K devices.
DIRECT_ALIGN = 4096
# errno values that mean "no room": translated to StorageFull where they enter.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# How often a copy waiting for its hashers looks at its stop flag (seconds).
STOP_POLL = 0.05

T = TypeVar("T")


class CopyStopped(Exception):
    """The copy was asked to stop (cancel, image deleted) and has stopped."""


@dataclass(frozen=True)
class CopyResult:
    size: int  # bytes of the image
    checksum: str  # md5 hex
    os_hash_algo: str
    os_hash_value: str
    data_bytes: int  # bytes actually read (holes excluded)
    virtual_size: int | None = None  # of a converted image, when its writer knows it


def read_full(fd: int, view: memoryview, offset: int) -> int:
    """preadv into `view` until full or end of file; returns the bytes read."""
    got = 0
    n = len(view)
    while got < n:
        r = os.preadv(fd, [view[got:]], offset + got)
        if r == 0:
            break
        got += r
    return got


_DONE = object()


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CopyStopped()


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """os.pwrite until every byte is written; ENOSPC and friends become StorageFull."""
    view = memoryview(data)
    while view:
        try:
            n = os.pwrite(fd, view, offset)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(f"Image storage media is full: {exc.strerror}") from exc
            raise
        view = view[n:]
        offset += n


# All-zero pieces of this size are left as holes by `pwrite_sparse`.
SPARSE_BLOCK = 64 * 1024


def pwrite_sparse(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """`pwrite_all` of `data` at `offset`, leaving its all-zero SPARSE_BLOCK pieces
    unwritten (holes in a new file; the caller sets the file's length)."""
    view = memoryview(data).cast("B")
    run_start = -1
    for start in range(0, len(view), SPARSE_BLOCK):
        if is_zero(view[start : start + SPARSE_BLOCK]):
            if run_start >= 0:
                pwrite_all(fd, view[run_start:start], offset + run_start)
                run_start = -1
        elif run_start < 0:
            run_start = start
    if run_start >= 0:
        pwrite_all(fd, view[run_start:], offset + run_start)


def open_direct(path: Path) -> int:
    """A second, O_DIRECT write descriptor for an existing file, or -1 where unsupported."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return -1
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:  # EINVAL: the file system (tmpfs, some FUSE) has no O_DIRECT
        return -1


class ImageWriter:
    """Sparse pwrites in their own thread, so a slow disk does not stall reads and hashing.

    Aligned chunks go through `direct_fd` (O_DIRECT) when given: DMA straight
    from the caller's buffer, no page-cache copy and no dirty pages left for
    the final fsync (which still runs: it flushes the metadata and the disk's
    cache). Other writes are buffered, and every WRITEBACK_EVERY bytes the
    writer starts the kernel's writeback of them (`start_writeback`), so they
    reach the disk during the copy rather than in the final fsync. After a
    failed write it keeps draining its queue (releasing buffers, so the
    producer never blocks) and `check()` re-raises the error in the
    producer's thread.
    """

    def __init__(
        self, fd: int, depth: int = 0, writeback_every: int = WRITEBACK_EVERY,
        direct_fd: int = -1,
    ) -> None:
        self._fd = fd
        self._direct_fd = direct_fd
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._every = writeback_every
        self.direct_bytes = 0
        self._thread = threading.Thread(target=self._loop, daemon=True, name="image-writer")
        self._thread.start()

    def _write(self, offset: int, chunk: bytes | bytearray | memoryview) -> bool:
        """Write one chunk; True when it went through the page cache."""
        n = len(chunk)
        if self._direct_fd >= 0 and offset % DIRECT_ALIGN == 0 and n % DIRECT_ALIGN == 0:
            try:
                pwrite_all(self._direct_fd, chunk, offset)
                self.direct_bytes += n
                return False
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._direct_fd = -1  # misaligned for this device: buffered from now on
        pwrite_all(self._fd, chunk, offset)
        return True

    def _loop(self) -> None:
        lower_thread_priority()
        pending_from = -1  # start of the buffered range written since the last kick
        pending_to = 0
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            offset, chunk, done = item
            try:
                if self._error is None and self._write(offset, chunk):
                    if pending_from < 0:
                        pending_from = offset
                    pending_to = offset + len(chunk)
                    if self._every and pending_to - pending_from >= self._every:
                        start_writeback(self._fd, pending_from, pending_to - pending_from)
                        pending_from = -1
            except BaseException as exc:
                self._error = exc
            finally:
                if done is not None:
                    done()

    def put(
        self, offset: int, chunk: bytes | bytearray | memoryview,
        done: Callable[[], None] | None = None,
    ) -> None:
        self.check()
        self._queue.put((offset, chunk, done))

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for every queued write; re-raise a write error."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        self.check()


class CopyPipeline:
    """What every copy of image data shares: BUFFERS reused chunk buffers, the two
    hash threads and, when there is a destination, the writer thread and the
    new file's descriptors (`dst` is created with O_EXCL, and an O_DIRECT
    descriptor is opened beside it when `direct`). A context manager: leaving
    it stops the hashers, waits for queued writes and closes everything,
    whatever happened; a partial `dst` stays for the caller to remove.
    """

    def __init__(
        self, dst: Path | None, *, chunk_size: int = CHUNK_SIZE,
        progress: Progress | None = None, direct: bool = True,
    ) -> None:
        self.writer: ImageWriter | None = None
        self._fd = self._direct_fd = -1
        self.buffers = Buffers(BUFFERS, chunk_size, POOL)
        try:
            # depth=None: the buffers bound the data in flight.
            self.hasher = ParallelHasher(depth=None, progress=progress)
        except BaseException:
            self.buffers.close()
            raise
        try:
            if dst is not None:
                self._fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                self._direct_fd = open_direct(dst) if direct else -1
                self.writer = ImageWriter(self._fd, direct_fd=self._direct_fd)
        except BaseException:
            self.close()
            raise

    @property
    def dst_fd(self) -> int:
        return self._fd

    def digests(self, stop: threading.Event | None) -> tuple[str, str]:
        """Wait for the writer and both hash threads; (md5, sha512) hex digests."""
        if self.writer is not None:
            self.writer.close()
        while not self.hasher.wait(STOP_POLL):  # long zero runs: stay stoppable
            _check_stop(stop)
        return self.hasher.finish()

    def close(self) -> None:
        self.hasher.abort()
        if self.writer is not None:
            with contextlib.suppress(BaseException):
                self.writer.close()
        self.buffers.close()
        for fd in (self._fd, self._direct_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._direct_fd = -1

    def __enter__(self) -> CopyPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def copy_sparse(
    src: Path,
    dst: Path | None,
    *,
    size: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    direct: bool = True,
) -> CopyResult:
    """Copy `src` to a new file `dst` (None: only hash), skipping holes and zero ranges.

    Holes in `src` are never read: the hashers hash each run of them from the
    zero block, and `dst` keeps a hole there. Data is read once, a window of
    at most `chunk_size` bytes at a time (`extents.windows`), with preadv, into
    one of BUFFERS reused buffers; md5, sha512 and the writes to `dst` all
    work on that buffer in place (each in its own thread), and it is reused
    once all three are done with it. Data ranges that hold only zeros are not
    written. Aligned writes use O_DIRECT (`direct`, where the file system
    allows), the rest are buffered with early writeback: either way little is
    left for the commit's fsync. `dst` must not exist (O_EXCL).

    Everything hashed is exactly what was written: both come from the one read
    into the buffer. Raises CopyStopped when `stop` is set (checked per window
    and while the hashers finish), StorageFull when `dst`'s disk is full. On
    any error a partial `dst` is left for the caller to remove (`dst` is not
    fsynced here: the image store's commit does that before the rename).
    """
    if chunk_size > ZERO_BLOCK_SIZE:
        raise ValueError("chunk_size larger than the zero block")
    progress = progress or Progress()
    src_fd = os.open(src, os.O_RDONLY)
    try:
        with CopyPipeline(dst, chunk_size=chunk_size, progress=progress, direct=direct) as pipe:
            buffers, hasher, writer = pipe.buffers, pipe.hasher, pipe.writer
            if size is None:
                size = os.fstat(src_fd).st_size
            progress.total = size
            zeros = memoryview(ZERO_BLOCK)
            data_bytes = 0
            for offset, length, pieces in windows(data_extents(src_fd, size), size, chunk_size):
                _check_stop(stop)
                if not pieces:
                    hasher.zeros(length)
                    continue
                # Three users: the two hashers and the writer.
                buf = buffers.take(3)
                view = memoryview(buf)[:length]
                filled = 0  # view[:filled] holds the window's bytes
                writes: list[tuple[int, memoryview]] = []
                for start, n in pieces:
                    at = start - offset
                    if at > filled:  # a hole inside the window
                        view[filled:at] = zeros[: at - filled]
                    piece = view[at : at + n]
                    got = read_full(src_fd, piece, start)
                    if got < n:  # the source shrank under us: pad like a hole
                        piece[got:] = zeros[: n - got]
                    filled = at + n
                    data_bytes += n
                    if writer is not None and not is_zero(piece):
                        writes.append((start, piece))

                def done(buf: mmap.mmap = buf) -> None:
                    buffers.release(buf)

                if writes:
                    assert writer is not None
                    for i, (start, piece) in enumerate(writes):
                        writer.put(start, piece, done if i == len(writes) - 1 else None)
                else:
                    done()
                hasher.update(view, done)
            md5, sha = pipe.digests(stop)
            if writer is not None:
                try:
                    os.ftruncate(pipe.dst_fd, size)
                except OSError as exc:
                    if exc.errno in NO_SPACE:
                        raise StorageFull(f"Image storage media is full: {exc.strerror}") from exc
                    raise
            progress.done = size
            return CopyResult(size, md5, HASH_ALGO, sha, data_bytes)
    finally:
        os.close(src_fd)


def fsync_path(path: Path, *, stop: threading.Event | None = None) -> None:
    """fsync a file by name (its data reaches the disk); for `run_blocking`.

    Used to flush a finished output while it is being hashed and checked, so
    the image store's own fsync before the rename finds nothing left to write.
    `stop` is accepted for `run_blocking` but an fsync cannot be interrupted.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Delayed allocation: a full disk can show up only here.
        if exc.errno in NO_SPACE:
            raise StorageFull(f"Image storage media is full: {exc.strerror}") from exc
        raise
    finally:
        os.close(fd)


def hash_file(
    path: Path, *, progress: Progress | None = None, stop: threading.Event | None = None
) -> CopyResult:
    """md5 + sha512 of a (possibly sparse) file, holes hashed without reading."""
    return copy_sparse(path, None, progress=progress, stop=stop)


async def run_blocking(fn: Callable[..., T], *args: Any, stop: threading.Event, **kwargs: Any) -> T:
    """Run `fn(*args, stop=stop, **kwargs)` in its own thread; on cancellation set
    `stop`, wait for the thread to notice, and re-raise.

    A dedicated thread (not the default executor) so long copies never starve
    the short `to_thread` calls of the rest of the service; it (and the threads
    it starts) runs at background priority, so the event loop wins the CPU. Waiting matters:
    the caller's cleanup (removing the file being written) must not race the
    thread still writing it.
    """
    fut: concurrent.futures.Future[T] = concurrent.futures.Future()
    # Running from the start: a cancelled awaiter can no longer cancel `fut`,
    # so the thread can always deliver its result.
    fut.set_running_or_notify_cancel()

    def _target() -> None:
        lower_thread_priority()
        try:
            fut.set_result(fn(*args, stop=stop, **kwargs))
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=_target, daemon=True, name="upload-copy").start()
    afut = asyncio.wrap_future(fut)
    try:
        return await asyncio.shield(afut)
    except asyncio.CancelledError:
        stop.set()
        # Wait for the thread even if cancelled again meanwhile (two parties
        # may cancel one upload: the image delete and the vanished-row watch).
        while not fut.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(afut)
        raise
