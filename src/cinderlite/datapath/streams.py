"""Blocking byte movers for the upload data path: sparse copy + parallel hashing.

Everything here runs in worker threads (see `run_blocking`): large `os.preadv`
reads into a few reused buffers, holes skipped with SEEK_DATA/SEEK_HOLE, sparse
`os.pwrite` writes from the same buffers, and md5 + sha512 each in its own
thread over those buffers, so hashing overlaps the I/O, every data byte is read
from the volume once and copied once, and memory stays at a few chunks.

The worker threads run at a lower CPU (and I/O) priority than the event loop
(`lower_thread_priority`), so the APIs stay responsive while uploads run; the
writer starts the kernel's writeback as it goes (`start_writeback`), so the
fsync before an image becomes active has little left to do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import mmap
import os
import platform
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cinderlite.datapath.extents import ZERO_BLOCK, ZERO_BLOCK_SIZE, is_zero, segments
from cinderlite.domain.errors import StorageFull

CHUNK_SIZE = ZERO_BLOCK_SIZE
# Reused read buffers per copy: bounds memory (x CHUNK_SIZE) and the work in flight.
BUFFERS = 4
# The writer asks the kernel to start writeback every this many bytes written
# (buffered writes only; O_DIRECT writes are on the disk when pwrite returns).
WRITEBACK_EVERY = 32 << 20
# O_DIRECT needs offsets, lengths and buffer addresses aligned to the device's
# logical block size; 4096 covers 512-byte and 4K devices.
DIRECT_ALIGN = 4096
# Niceness of qemu-img and of the copy/hash threads (the event loop stays at 0).
BACKGROUND_NICE = 10
HASH_ALGO = "sha512"
# errno values that mean "no room": translated to StorageFull where they enter.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

T = TypeVar("T")


class CopyStopped(Exception):
    """The copy was asked to stop (cancel, image deleted) and has stopped."""


class Progress:
    """Bytes handled so far; written by one worker thread, read by the event loop."""

    def __init__(self, total: int = 0) -> None:
        self.done = 0
        self.total = total


@dataclass(frozen=True)
class CopyResult:
    size: int  # bytes of the image
    checksum: str  # md5 hex
    os_hash_algo: str
    os_hash_value: str
    data_bytes: int  # bytes actually read (holes excluded)


# --- priorities and writeback ---------------------------------------------------

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = getattr(_LIBC, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    _sync_file_range.restype = ctypes.c_int

# ioprio_set(2) has no libc wrapper; its number per architecture.
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}.get(platform.machine())
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_BE = 2
_IOPRIO_CLASS_SHIFT = 13


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to start writing [offset, offset+length) of `fd` to disk, without waiting.

    Lets the disk work while the copy goes on, so the final fsync is short.
    Advisory: False (and nothing else) where sync_file_range is missing or
    refuses; the fsync that follows still guarantees durability and reports
    write errors.
    """
    if _sync_file_range is None or length <= 0:
        return False
    return _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0


def lower_io_priority(tid: int = 0, level: int = 7) -> bool:
    """Best-effort I/O priority (best-effort class, `level` 0-7) of a thread/process (0: caller)."""
    if _IOPRIO_SET is None:
        return False
    value = (_IOPRIO_CLASS_BE << _IOPRIO_CLASS_SHIFT) | level
    return _LIBC.syscall(_IOPRIO_SET, _IOPRIO_WHO_PROCESS, tid, value) == 0


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Make the calling thread (not the process) yield the CPU to the event loop.

    Linux keeps a niceness per thread; threads this one starts inherit it. Only
    ever call this in threads made for background work (never in an executor
    thread that the event loop reuses). Best-effort: errors are ignored.
    """
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    with contextlib.suppress(OSError, AttributeError):
        lower_io_priority(threading.get_native_id())


class _Buffers:
    """A fixed pool of reused chunk buffers, each handed back once all its consumers are done.

    `take(users)` blocks until a buffer is free (this is what bounds the copy's
    memory and its read-ahead); every consumer calls `release(buf)` once.
    Buffers are anonymous mmaps: page-aligned, as O_DIRECT writes need.
    """

    def __init__(self, count: int, size: int) -> None:
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._users: dict[int, int] = {}
        self._lock = threading.Lock()
        for _ in range(count):
            self._free.put(mmap.mmap(-1, max(size, 1)))

    def take(self, users: int) -> mmap.mmap:
        buf = self._free.get()
        with self._lock:
            self._users[id(buf)] = users
        return buf

    def release(self, buf: mmap.mmap) -> None:
        with self._lock:
            left = self._users[id(buf)] - 1
            self._users[id(buf)] = left
        if left == 0:
            self._free.put(buf)


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


class ParallelHasher:
    """md5 and sha512 of one byte stream, each computed in its own thread.

    hashlib releases the GIL on large buffers, so both digests advance in
    parallel with each other and with the caller's reads and writes. `depth`
    bounds the chunks waiting per hasher (memory = depth x chunk size). The
    threads run at background priority (`lower_thread_priority`).
    """

    def __init__(self, depth: int = 3) -> None:
        self._hashes = [hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)]
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in self._hashes]
        self._aborted = False
        self._threads = [
            threading.Thread(target=self._loop, args=(h, q), daemon=True, name="hasher")
            for h, q in zip(self._hashes, self._queues, strict=True)
        ]
        for t in self._threads:
            t.start()
        self._closed = False

    def _loop(self, h: Any, q: queue.Queue[Any]) -> None:
        lower_thread_priority()
        while True:
            item = q.get()
            if item is _DONE:
                return
            chunk, done = item
            if not self._aborted:
                h.update(chunk)
            if done is not None:
                done()

    def update(
        self, chunk: bytes | bytearray | memoryview, done: Callable[[], None] | None = None
    ) -> None:
        """Hash `chunk` next; each hasher calls `done()` once it no longer needs it.

        The caller must not change `chunk` before both calls of `done()` (or
        `finish()`) -- that is what lets a reused buffer be hashed in place.
        """
        for q in self._queues:
            q.put((chunk, done))

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            for q in self._queues:
                q.put(_DONE)
            for t in self._threads:
                t.join()

    def finish(self) -> tuple[str, str]:
        """Wait for both threads; return (md5 hex, sha512 hex)."""
        self._close()
        return self._hashes[0].hexdigest(), self._hashes[1].hexdigest()

    def abort(self) -> None:
        self._aborted = True  # the threads only drain (and release) what is queued
        self._close()


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
                raise StorageFull(f"Image store is full: {exc.strerror}") from exc
            raise
        view = view[n:]
        offset += n


def open_direct(path: Path) -> int:
    """A second, O_DIRECT write descriptor for an existing file, or -1 where unsupported."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return -1
    try:
        return os.open(path, os.O_WRONLY | flag)
    except OSError:  # EINVAL: the file system (tmpfs, some FUSE) has no O_DIRECT
        return -1


class _Writer:
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
        self, fd: int, depth: int = 4, writeback_every: int = WRITEBACK_EVERY,
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

    def _write(self, offset: int, chunk: bytes | bytearray | memoryview | mmap.mmap) -> bool:
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
    """Copy `src` to a new file `dst` (None: only hash), skipping holes and zero chunks.

    Holes in `src` are never read: the zero block is hashed in their place and
    `dst` keeps a hole there. Data is read once, with preadv, into one of
    BUFFERS reused buffers; md5, sha512 and the write to `dst` all work on that
    buffer in place (each in its own thread), and it is reused once all three
    are done with it. Aligned chunks are written with O_DIRECT (`direct`, where
    the file system allows), the rest buffered with early writeback: either way
    little is left for the commit's fsync. `dst` must not exist (O_EXCL). Raises CopyStopped when
    `stop` is set, StorageFull when `dst`'s disk is full. On any error a
    partial `dst` is left for the caller to remove (`dst` is not fsynced here:
    the image store's commit does that before the rename).
    """
    progress = progress or Progress()
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = direct_fd = -1
    writer: _Writer | None = None
    hasher = ParallelHasher()
    buffers = _Buffers(BUFFERS, chunk_size)
    try:
        if size is None:
            size = os.fstat(src_fd).st_size
        progress.total = size
        if dst is not None:
            dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            direct_fd = open_direct(dst) if direct else -1
            writer = _Writer(dst_fd, direct_fd=direct_fd)
        zeros = memoryview(ZERO_BLOCK)
        data_bytes = 0
        for offset, length, is_data in segments(src_fd, size, chunk_size):
            _check_stop(stop)
            if not is_data:
                hasher.update(zeros[:length])
                progress.done = offset + length
                continue
            # Three users (two hashers, the writer) unless the chunk is all zeros.
            buf = buffers.take(3)
            view = memoryview(buf)[:length]
            got = read_full(src_fd, view, offset)
            if got < length:  # the source shrank under us: pad like a hole
                view[got:] = zeros[: length - got]
            data_bytes += length

            def done(buf: mmap.mmap = buf) -> None:
                buffers.release(buf)

            if writer is not None and not is_zero(view):
                writer.put(offset, view, done)
            else:
                done()
            hasher.update(view, done)
            progress.done = offset + length
        if writer is not None:
            writer.close()
            try:
                os.ftruncate(dst_fd, size)
            except OSError as exc:
                if exc.errno in NO_SPACE:
                    raise StorageFull(f"Image store is full: {exc.strerror}") from exc
                raise
        md5, sha = hasher.finish()
        return CopyResult(size, md5, HASH_ALGO, sha, data_bytes)
    finally:
        hasher.abort()
        if writer is not None:
            with contextlib.suppress(BaseException):
                writer.close()
        os.close(src_fd)
        if dst_fd >= 0:
            os.close(dst_fd)
        if direct_fd >= 0:
            os.close(direct_fd)


def fsync_path(path: Path, *, stop: threading.Event | None = None) -> None:
    """fsync a file by name (its data reaches the disk); for `run_blocking`.

    Used to flush a finished output while it is being hashed and checked, so
    the image store's own fsync before the rename finds nothing left to write.
    `stop` is accepted for `run_blocking` but an fsync cannot be interrupted.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
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
