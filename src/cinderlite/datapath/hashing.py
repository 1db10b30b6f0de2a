"""Image checksums in one pass: MD5 `checksum` and SHA-512 `os_hash_value`.

The two digests run in parallel threads (hashlib releases the GIL for buffers
over 2 KiB), so hashing costs about as much as the slower of the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cinderlite.domain.errors import TooLarge

# Glance [DEFAULT] hashing_algorithm default.
HASH_ALGO = "sha512"

# One shared helper thread for the MD5 half of `update`; the calling thread
# does the SHA-512 half.
_MD5_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="md5")


@dataclass(frozen=True)
class ImageDigest:
    """What Glance records for image data (same fields as storage's StoredImage)."""

    size: int
    checksum: str  # MD5 hex
    os_hash_algo: str
    os_hash_value: str


class ImageHasher:
    """Pass-through hasher. Feed chunks in order with `update` (blocking, for a
    worker thread) or `aupdate` (from the event loop); `result()` at the end.

    `max_size`, when given, makes `update`/`aupdate` raise TooLarge as soon as
    the total goes over it (Glance image_size_cap -> 413).
    """

    def __init__(self, *, max_size: int | None = None) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.sha512()
        self._size = 0
        self._max_size = max_size

    @property
    def size(self) -> int:
        return self._size

    def _count(self, chunk: bytes | bytearray | memoryview) -> None:
        self._size += len(chunk)
        if self._max_size is not None and self._size > self._max_size:
            raise TooLarge("The provided image is too large.")

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash `chunk` (blocking): MD5 in a helper thread, SHA-512 in this one."""
        self._count(chunk)
        if len(chunk) < 65536:
            self._md5.update(chunk)
            self._sha.update(chunk)
            return
        fut = _MD5_POOL.submit(self._md5.update, chunk)
        self._sha.update(chunk)
        fut.result()

    async def aupdate(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash `chunk` off the event loop; the two digests run concurrently."""
        self._count(chunk)
        if len(chunk) < 65536:
            self._md5.update(chunk)
            self._sha.update(chunk)
            return
        await asyncio.gather(
            asyncio.to_thread(self._md5.update, chunk), asyncio.to_thread(self._sha.update, chunk)
        )

    def result(self) -> ImageDigest:
        return ImageDigest(
            size=self._size, checksum=self._md5.hexdigest(), os_hash_algo=HASH_ALGO,
            os_hash_value=self._sha.hexdigest(),
        )


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
