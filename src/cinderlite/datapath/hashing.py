"""Image checksums: MD5 `checksum` and SHA-512 `os_hash_value`, each in its own thread.

One implementation for both writers of image data: the upload worker's copy
(`streams.copy_sparse`, `ParallelHasher` directly) and image PUT
(`ImageHasher`, its event-loop facade). hashlib releases the GIL for buffers
over 2 KiB, so the two digests run in parallel and hashing costs about as much
as the slower of the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from cinderlite.datapath.extents import ZERO_BLOCK, ZERO_BLOCK_SIZE
from cinderlite.datapath.sysio import lower_thread_priority
from cinderlite.domain.errors import TooLarge

# Glance [DEFAULT] hashing_algorithm default.
HASH_ALGO = "sha512"

_DONE = object()
Chunk = bytes | bytearray | memoryview


class Progress:
    """Bytes handled so far; written by worker threads, read by the event loop."""

    def __init__(self, total: int = 0) -> None:
        self.done = 0
        self.total = total


@dataclass(frozen=True)
class ImageDigest:
    """What Glance records for image data (same fields as storage's StoredImage)."""

    size: int
    checksum: str  # MD5 hex
    os_hash_algo: str
    os_hash_value: str


class ParallelHasher:
    """MD5 and SHA-512 of one byte stream, each digest in its own thread.

    The threads share nothing but the data: each has its own queue, and a run
    of zeros (`zeros(n)`, a hole of a sparse file) is one queue item that each
    thread hashes on its own from the shared zero block, in large updates, so
    neither digest waits for the other there. Data chunks (`update`) are
    hashed in place: the caller keeps a chunk unchanged until both threads
    called its `done`. `depth` bounds the data chunks waiting per thread
    (`update` blocks when full; None: unbounded, for callers that bound their
    memory themselves, e.g. with a buffer pool). `progress.done`, when given,
    follows the slower thread. The threads run at background priority.
    """

    def __init__(self, depth: int | None = 3, *, progress: Progress | None = None) -> None:
        self._hashes = [hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)]
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in self._hashes]
        self._room = [threading.Semaphore(depth) for _ in self._hashes] if depth else None
        self._hashed = [0, 0]
        # Items queued for / finished by each thread (each counter has one writer).
        self._queued = [0, 0]
        self._finished = [0, 0]
        self._progress = progress
        self._aborted = False
        self._error: BaseException | None = None
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True, name=f"hasher-{i}")
            for i in range(len(self._hashes))
        ]
        for t in self._threads:
            t.start()
        self._closed = False

    # -- the two threads -------------------------------------------------------------

    def _advance(self, index: int, n: int) -> None:
        self._hashed[index] += n
        if self._progress is not None:
            self._progress.done = min(self._hashed)

    def _hash(self, h: Any, chunk: Chunk) -> None:
        if self._aborted:
            return
        try:
            h.update(chunk)
        except BaseException as exc:  # e.g. not a buffer: reported by finish()
            self._error = self._error or exc
            self._aborted = True

    def _loop(self, index: int) -> None:
        lower_thread_priority()
        h, q = self._hashes[index], self._queues[index]
        zeros = memoryview(ZERO_BLOCK)
        while True:
            item = q.get()
            if item is _DONE:
                return
            if type(item) is int:  # a run of zeros, in zero-block slices
                left = item
                while left > 0 and not self._aborted:
                    n = min(left, ZERO_BLOCK_SIZE)
                    self._hash(h, zeros[:n])
                    left -= n
                    self._advance(index, n)
                self._finished[index] += 1
                continue
            chunk, n, done = item
            try:
                self._hash(h, chunk)
                self._advance(index, n)
            finally:
                self._finished[index] += 1
                if self._room is not None:
                    self._room[index].release()
                    self._wake()
                if done is not None:
                    done()

    # -- feeding -----------------------------------------------------------------------

    def _put(self, chunk: Chunk, done: Callable[[], None] | None) -> None:
        n = chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)
        for i, q in enumerate(self._queues):
            self._queued[i] += 1
            q.put((chunk, n, done))

    def update(self, chunk: Chunk, done: Callable[[], None] | None = None) -> None:
        """Hash `chunk` next (blocks while `depth` chunks wait); each thread calls
        `done()` once it no longer needs the chunk."""
        if self._room is not None:
            for room in self._room:
                room.acquire()
        self._put(chunk, done)

    def try_update(self, chunk: Chunk, done: Callable[[], None] | None = None) -> bool:
        """`update` if both threads have room now; False (and nothing queued) if not."""
        if self._room is not None:
            taken: list[threading.Semaphore] = []
            for room in self._room:
                if not room.acquire(blocking=False):
                    for r in taken:
                        r.release()
                    return False
                taken.append(room)
        self._put(chunk, done)
        return True

    async def aupdate(self, chunk: Chunk) -> None:
        """`update` from the event loop: waits for room without blocking the loop.

        Only for immutable chunks (bytes): the caller does not learn when the
        threads are done with it.
        """
        while True:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            with self._lock:  # armed before trying, so a release in between wakes us
                self._waiter = (loop, fut)
            if self.try_update(chunk):
                with self._lock:
                    self._waiter = None
                return
            await fut

    def _wake(self) -> None:
        with self._lock:
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            loop, fut = waiter
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, fut)

    def zeros(self, length: int) -> None:
        """Hash `length` zero bytes next (never blocks, allocates nothing)."""
        if length > 0:
            for i, q in enumerate(self._queues):
                self._queued[i] += 1
                q.put(length)

    # -- ending ------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """True while a thread still has queued work."""
        return self._queued != self._finished

    def _end_input(self) -> None:
        if not self._closed:
            self._closed = True
            for q in self._queues:
                q.put(_DONE)

    def wait(self, timeout: float | None = None) -> bool:
        """End the input; wait up to about `timeout` s for both threads; True once both ended."""
        self._end_input()
        for t in self._threads:
            t.join(timeout)
            if t.is_alive():
                return False
        return True

    def finish(self) -> tuple[str, str]:
        """Wait for both threads; return (md5 hex, sha512 hex)."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._hashes[0].hexdigest(), self._hashes[1].hexdigest()

    def abort(self) -> None:
        """Stop hashing; the threads only drain (and release) what is queued, then end."""
        self._aborted = True
        self.wait()

    def detach(self) -> None:
        """Like `abort`, without waiting for the threads (for finalizers)."""
        self._aborted = True
        self._end_input()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class ImageHasher:
    """Pass-through hasher for image PUT: a `ParallelHasher` with a byte count and a cap.

    Feed chunks in order with `update` (blocking, for a worker thread) or
    `aupdate` (from the event loop: returns as soon as the chunk is queued, so
    hashing overlaps receiving and writing); `aresult()`/`result()` at the end.
    Chunks must not change once fed (bytes). `max_size`, when given, makes
    `update`/`aupdate` raise TooLarge as soon as the total goes over it (Glance
    image_size_cap -> 413). A hasher that is dropped unfinished stops its
    threads.
    """

    def __init__(self, *, max_size: int | None = None, depth: int = 4) -> None:
        self._engine = ParallelHasher(depth=depth)
        weakref.finalize(self, self._engine.detach)
        self._size = 0
        self._max_size = max_size
        self._digest: ImageDigest | None = None

    @property
    def size(self) -> int:
        return self._size

    def _count(self, chunk: Chunk) -> None:
        self._size += len(chunk)
        if self._max_size is not None and self._size > self._max_size:
            raise TooLarge("The provided image is too large.")

    def update(self, chunk: Chunk) -> None:
        """Queue `chunk` for both digests (blocks while `depth` chunks wait)."""
        self._count(chunk)
        if len(chunk):
            self._engine.update(chunk)

    async def aupdate(self, chunk: Chunk) -> None:
        """Queue `chunk` for both digests, waiting for room without blocking the loop."""
        self._count(chunk)
        if len(chunk):
            await self._engine.aupdate(chunk)

    def result(self) -> ImageDigest:
        """The digests (waits for the queued chunks to be hashed)."""
        if self._digest is None:
            md5, sha = self._engine.finish()
            self._digest = ImageDigest(
                size=self._size, checksum=md5, os_hash_algo=HASH_ALGO, os_hash_value=sha,
            )
        return self._digest

    async def aresult(self) -> ImageDigest:
        """`result` from the event loop: the last chunks are waited for off the loop."""
        if self._digest is None and self._engine.pending:
            return await asyncio.to_thread(self.result)
        return self.result()


async def hash_stream(
    chunks: AsyncIterator[bytes], hasher: ImageHasher
) -> AsyncIterator[bytes]:
    """Yield `chunks` unchanged, hashing each one on the way."""
    async for chunk in chunks:
        await hasher.aupdate(chunk)
        yield chunk


async def rechunk(chunks: AsyncIterator[bytes], size: int = 4 << 20) -> AsyncIterator[bytes]:
    """Coalesce small chunks (HTTP bodies arrive in ~64 KiB pieces) into `size`-byte
    ones, so the per-chunk costs (thread hops, syscalls) are paid rarely."""
    buf = bytearray()
    async for chunk in chunks:
        if not buf and len(chunk) >= size:
            yield bytes(chunk)
            continue
        buf += chunk
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


async def read_ahead(chunks: AsyncIterator[bytes], depth: int = 2) -> AsyncIterator[bytes]:
    """Yield `chunks` while a background task already receives the next `depth`
    ones, so receiving overlaps hashing and writing. Errors of the source are
    re-raised here; closing this generator stops the background task."""
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for chunk in chunks:
                await queue.put(chunk)
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
            return
        await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
