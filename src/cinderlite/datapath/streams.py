"""Blocking byte movers for the upload data path: sparse copy + parallel hashing.

Everything here runs in worker threads (see `run_blocking`): large `os.pread`
reads, holes skipped with SEEK_DATA/SEEK_HOLE, sparse `os.pwrite` writes, and
md5 + sha512 each in its own thread fed through small bounded queues, so
hashing overlaps the I/O and memory stays at a few chunks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cinderlite.datapath.extents import ZERO_BLOCK, ZERO_BLOCK_SIZE, is_zero, segments
from cinderlite.domain.errors import StorageFull

CHUNK_SIZE = ZERO_BLOCK_SIZE
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


_DONE = object()


class ParallelHasher:
    """md5 and sha512 of one byte stream, each computed in its own thread.

    hashlib releases the GIL on large buffers, so both digests advance in
    parallel with each other and with the caller's reads and writes. `depth`
    bounds the chunks waiting per hasher (memory = depth x chunk size).
    """

    def __init__(self, depth: int = 3) -> None:
        self._hashes = [hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)]
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in self._hashes]
        self._threads = [
            threading.Thread(target=self._loop, args=(h, q), daemon=True, name="hasher")
            for h, q in zip(self._hashes, self._queues, strict=True)
        ]
        for t in self._threads:
            t.start()
        self._closed = False

    @staticmethod
    def _loop(h: Any, q: queue.Queue[Any]) -> None:
        while True:
            item = q.get()
            if item is _DONE:
                return
            h.update(item)

    def update(self, chunk: bytes | memoryview) -> None:
        for q in self._queues:
            q.put(chunk)

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
        self._close()


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise CopyStopped()


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
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


class _Writer:
    """Sparse pwrites in their own thread, so a slow disk does not stall reads and hashing.

    After a failed write it keeps draining its queue (so the producer never
    blocks) and `check()` re-raises the error in the producer's thread.
    """

    def __init__(self, fd: int, depth: int = 4) -> None:
        self._fd = fd
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="image-writer")
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    pwrite_all(self._fd, item[1], item[0])
                except BaseException as exc:
                    self._error = exc

    def put(self, offset: int, chunk: bytes) -> None:
        self.check()
        self._queue.put((offset, chunk))

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
) -> CopyResult:
    """Copy `src` to a new file `dst` (None: only hash), skipping holes and zero chunks.

    Holes in `src` are never read: the zero block is hashed in their place and
    `dst` keeps a hole there. Reads happen in the calling thread; md5, sha512
    and the writes each run in their own thread. `dst` must not exist (O_EXCL).
    Raises CopyStopped when `stop` is set, StorageFull when `dst`'s disk is
    full. On any error a partial `dst` is left for the caller to remove.
    """
    progress = progress or Progress()
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = -1
    writer: _Writer | None = None
    hasher = ParallelHasher()
    try:
        if size is None:
            size = os.fstat(src_fd).st_size
        progress.total = size
        if dst is not None:
            dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            writer = _Writer(dst_fd)
        zeros = memoryview(ZERO_BLOCK)
        data_bytes = 0
        for offset, length, is_data in segments(src_fd, size, chunk_size):
            _check_stop(stop)
            if not is_data:
                hasher.update(zeros[:length])
            else:
                chunk = os.pread(src_fd, length, offset)
                if len(chunk) < length:  # the source shrank under us: pad like a hole
                    chunk += bytes(length - len(chunk))
                data_bytes += length
                hasher.update(chunk)
                if writer is not None and not is_zero(chunk):
                    writer.put(offset, chunk)
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


def hash_file(
    path: Path, *, progress: Progress | None = None, stop: threading.Event | None = None
) -> CopyResult:
    """md5 + sha512 of a (possibly sparse) file, holes hashed without reading."""
    return copy_sparse(path, None, progress=progress, stop=stop)


async def run_blocking(fn: Callable[..., T], *args: Any, stop: threading.Event, **kwargs: Any) -> T:
    """Run `fn(*args, stop=stop, **kwargs)` in its own thread; on cancellation set
    `stop`, wait for the thread to notice, and re-raise.

    A dedicated thread (not the default executor) so long copies never starve
    the short `to_thread` calls of the rest of the service. Waiting matters:
    the caller's cleanup (removing the file being written) must not race the
    thread still writing it.
    """
    fut: concurrent.futures.Future[T] = concurrent.futures.Future()
    # Running from the start: a cancelled awaiter can no longer cancel `fut`,
    # so the thread can always deliver its result.
    fut.set_running_or_notify_cancel()

    def _target() -> None:
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
