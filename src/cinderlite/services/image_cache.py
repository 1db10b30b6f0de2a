"""Glance's image cache on this node: downloads served from and filling the cache,
the prefetcher, and the cache management API (Glance 2.14, clean and prune 2.18).

The cache is opt-in (image_cache_dir); without it every call of the management
API answers as Glance without a cache, and downloads read the store. Who may do
what: Glance's cache policies (cache_list, cache_image, cache_delete,
cache_clean, cache_prune, list_cached_nodes) are all admin-only by default, and
so are they here.

Downloads (Glance's cache middleware, glance/api/middleware/cache.py): a whole
download of an `active` image is served from its entry when there is one that
matches the image's size and checksums; otherwise the data read from the store
is written into a new entry while it is sent (a "tee"), and the entry is placed
only once the whole stream passed and matched the image's checksums. A client
that goes away mid-way leaves the fill in invalid/ (Glance's rollback), removed by
the next clean. A full cache disk stops the fill, never the download. Range
requests neither read nor fill the cache (Glance: partial downloads are not
cached), and a deactivated image is not served from it.

The prefetcher (PUT /v2/cache/{id}) runs in the API process that received the
request, as Glance's cache worker thread does: the cache belongs to the node that
serves downloads, and a worker process may run on another machine with another
cache. Queued images are fetched one at a time, oldest first; an API process
that starts takes up the queue a previous run left (the queue is files in the
cache directory, so it survives crashes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from cinderlite.db.images import ImageRepository
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NoImageFound,
    NotFound,
    StorageFull,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.records import ImageRecord
from cinderlite.services.images import READ_CHUNK_SIZE, ImageData, ImageService
from cinderlite.storage.images.cache import CacheEntry, CacheFill, CacheKey, ImageCache, Pruned

log = logging.getLogger(__name__)

# x-image-cache-clear-target values (glance/api/v2/cached_images.py clear_cache).
CLEAR_TARGETS = ("", "cache", "queue")


@dataclass(frozen=True)
class CacheSettings:
    """Glance's image_cache_max_size (prune's target) and image_cache_stall_time."""

    max_size: int = 10 << 30
    stall_time: int = 86400


@dataclass(frozen=True)
class CacheState:
    """GET /v2/cache."""

    cached: list[CacheEntry]
    queued: list[str]


def cache_key(image: ImageRecord) -> CacheKey | None:
    """What an entry must match for `image`; None when the image says too little
    to check its data against (no size)."""
    if image.size is None:
        return None
    return CacheKey(image.size, image.checksum, image.os_hash_algo, image.os_hash_value)


def _denied() -> Forbidden:
    # Glance raises webob's HTTPForbidden() without a message: webob's own text.
    return Forbidden("Access was denied to this resource.")


class ImageCacheService:
    """The cache management API and the download path through the cache."""

    def __init__(
        self, *, images: ImageService, repo: ImageRepository, cache: ImageCache | None,
        settings: CacheSettings | None = None,
    ) -> None:
        self._images = images
        self._repo = repo
        self._cache = cache
        self._settings = settings or CacheSettings()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._prefetcher: asyncio.Task[None] | None = None
        # Fills placed after their download ended (kept referenced until done).
        self._placing: set[asyncio.Task[Any]] = set()

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    # --- policy ---------------------------------------------------------------

    def _enforce(self, caller: Caller) -> ImageCache:
        """Glance's CacheController._enforce: the policy (admin), then the cache."""
        if not caller.is_admin:
            raise _denied()
        if self._cache is None:
            raise NotFound("Caching via API is not supported at this site.")
        return self._cache

    async def _image(self, caller: Caller, image_id: str) -> ImageRecord | None:
        try:
            return await self._images.visible(caller, image_id)
        except NoImageFound:
            return None

    # --- the management API ---------------------------------------------------

    async def state(self, caller: Caller) -> CacheState:
        """GET /v2/cache (cache_list)."""
        cache = self._enforce(caller)
        return CacheState(await cache.entries(), await cache.queued())

    async def queue(self, caller: Caller, image_id: str) -> None:
        """PUT /v2/cache/{id} (cache_image): queue an `active` image the caller sees
        and hand it to the prefetcher. Glance's order: the image (404), the policy
        (403), the cache (404), the status (400)."""
        image = await self._image(caller, image_id)
        if image is None:
            raise NotFound(f"Image {image_id} not found.")
        cache = self._enforce(caller)
        if image.status != ImageStatus.ACTIVE:
            raise InvalidRequest("Only images with status active can be targeted for queueing")
        await cache.queue(image_id)
        self.submit(image_id)

    async def delete(self, caller: Caller, image_id: str) -> None:
        """DELETE /v2/cache/{id} (cache_delete): the entry and the queued id. 404
        only when the caller sees no such image and nothing of that id is cached or
        queued (Glance's order)."""
        image = await self._image(caller, image_id)
        if image is None and not await self._holds(image_id):
            raise NotFound(f"Image {image_id} not found.")
        cache = self._enforce(caller)
        await cache.delete(image_id)
        await cache.dequeue(image_id)

    async def _holds(self, image_id: str) -> bool:
        if self._cache is None:
            # Glance, without a cache, fails here (500); nothing of it is cached.
            return False
        if image_id in await self._cache.queued():
            return True
        return any(e.image_id == image_id for e in await self._cache.entries())

    async def clear(self, caller: Caller, target: str) -> None:
        """DELETE /v2/cache (cache_delete) with x-image-cache-clear-target: `cache`,
        `queue` or empty (both; glanceclient's `both` sends no header)."""
        cache = self._enforce(caller)
        target = target.lower()
        if target not in CLEAR_TARGETS:
            raise InvalidRequest(
                "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or "
                "empty string."
            )
        if target in ("", "cache"):
            await cache.clear()
        if target in ("", "queue"):
            await cache.clear_queue()

    async def cached_nodes(self, caller: Caller, image_id: str) -> list[str]:
        """GET /v2/cache/nodes/{id} (list_cached_nodes): only Glance's centralized_db
        cache driver knows other nodes; this cache is the node's own, as Glance's
        sqlite driver's."""
        self._enforce(caller)
        raise Conflict("Centralized caching is not enabled")

    async def clean(self, caller: Caller) -> None:
        """POST /v2/cache/clean (cache_clean, 2.18): Glance's cleaner (invalid files,
        incomplete ones older than the stall time), and the entries of images that
        no longer exist (deleted through another node)."""
        cache = self._enforce(caller)
        removed = await cache.clean(self._settings.stall_time)
        for entry in await cache.entries():
            if await self._repo.get(entry.image_id) is None:
                await cache.delete(entry.image_id)
                removed.append(entry.image_id)
        if removed:
            log.info("image cache: clean removed %s", ", ".join(removed))

    async def prune(self, caller: Caller) -> Pruned:
        """POST /v2/cache/prune (cache_prune, 2.18): the least recently accessed
        entries go until the cache holds at most image_cache_max_size bytes."""
        cache = self._enforce(caller)
        pruned = await cache.prune(self._settings.max_size)
        if pruned.files:
            log.info("image cache: pruned %d entries, %d bytes", pruned.files, pruned.bytes)
        return pruned

    # --- downloads ------------------------------------------------------------

    async def open_data(self, caller: Caller, image_id: str, *, ranged: bool) -> ImageData:
        """GET /v2/images/{id}/file: the image service's checks and stream, read from
        the cache or filling it where that applies (see the module docstring)."""
        cache = self._cache
        if cache is None:
            return await self._images.open_data(caller, image_id)
        image = await self._images.downloadable(caller, image_id)
        key = cache_key(image)
        if ranged or image.status != ImageStatus.ACTIVE or key is None:
            return ImageData(image, await self._images.stored_data(image))
        # Glance's middleware looks in the cache before the store. The cache
        # only ever speeds a download up: when it fails, the store serves it.
        try:
            fd = await cache.open_entry(image.id, key)
        except Exception:
            log.exception("image cache: could not read the entry of image %s", image.id)
            fd = None
        if fd is not None:
            return ImageData(image, self._from_entry(cache, image.id, fd, key.size))
        chunks = await self._images.stored_data(image)
        if chunks is None:
            return ImageData(image, None)
        try:
            fill = await cache.begin_fill(image.id, key.size)
        except Exception:
            log.exception("image cache: could not begin to cache image %s", image.id)
            fill = None
        if fill is None:
            return ImageData(image, chunks)
        return ImageData(image, self._tee(chunks, fill, key, place_later=True))

    async def _from_entry(
        self, cache: ImageCache, image_id: str, fd: int, size: int
    ) -> AsyncIterator[bytes]:
        """The entry's bytes; the hit is counted once the last of them is read, before
        it is sent (so a client that has the whole image sees it counted)."""
        try:
            done = 0
            if size == 0:
                await self._record_hit(cache, image_id)
            while chunk := await asyncio.to_thread(os.read, fd, READ_CHUNK_SIZE):
                done += len(chunk)
                if done == size:
                    await self._record_hit(cache, image_id)
                yield chunk
        finally:
            os.close(fd)

    @staticmethod
    async def _record_hit(cache: ImageCache, image_id: str) -> None:
        try:
            await cache.record_hit(image_id)
        except Exception:  # a statistic: never worth cutting a download short
            log.exception("image cache: could not count a hit of image %s", image_id)

    async def _tee(
        self, chunks: AsyncIterator[bytes], fill: CacheFill, key: CacheKey, *,
        place_later: bool,
    ) -> AsyncIterator[bytes]:
        """`chunks` unchanged, written into `fill` on the way. A failed write (a full
        disk) ends the fill, never the stream. Once the stream ended, the fill is
        checked and placed: in the background when `place_later` (the client is
        not kept waiting for the fsync), else before this ends."""
        filling: CacheFill | None = fill
        ended = False
        try:
            async for chunk in chunks:
                if filling is not None:
                    try:
                        await filling.write(chunk)
                    except (OSError, StorageFull) as exc:
                        log.warning("image cache: filling image %s failed (%s): not cached, "
                                    "download goes on", fill.image_id, exc)
                        filling.abort(invalid=False)
                        filling = None
                yield chunk
            ended = True
        finally:
            if filling is not None and not ended:
                # Client gone, store read failed, cancelled: Glance's rollback.
                filling.abort(invalid=True)
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()  # the store's open file, at once rather than at GC
        if filling is not None:
            if place_later:
                self._spawn(self._place(filling, key))
            else:
                await self._place(filling, key)

    async def _place(self, fill: CacheFill, key: CacheKey) -> bool:
        try:
            placed = await fill.place(key)
        except Exception:
            log.exception("image cache: could not place the entry of image %s", fill.image_id)
            return False
        if placed:
            log.info("image cache: cached image %s", fill.image_id)
        return placed

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._placing.add(task)
        task.add_done_callback(self._placing.discard)

    # --- the prefetcher -------------------------------------------------------

    def submit(self, image_id: str) -> None:
        """Hand `image_id` to this process's prefetcher (started on first use)."""
        if self._cache is None:
            return
        if self._prefetcher is None or self._prefetcher.done():
            self._prefetcher = asyncio.get_running_loop().create_task(self._prefetch_loop())
        self._queue.put_nowait(image_id)

    async def start(self) -> None:
        """At an API process's start: take up what the queue holds (a previous run's
        queue; with several processes each tries, and one fills each image)."""
        if self._cache is None:
            return
        for image_id in await self._cache.queued():
            self.submit(image_id)

    async def _prefetch_loop(self) -> None:
        while True:
            image_id = await self._queue.get()
            try:
                await self.prefetch(image_id)
            except Exception:
                log.exception("image cache: prefetching image %s failed", image_id)

    async def prefetch(self, image_id: str) -> bool:
        """Fill the entry of queued `image_id` from its store (Glance's
        prefetcher.fetch_image_into_cache); True when it is cached now. An image
        that is gone leaves the queue; one not `active` stays queued (Glance)."""
        cache = self._cache
        if cache is None:
            return False
        image = await self._repo.get(image_id)
        if image is None:
            log.warning("image cache: image %s not found: dropped from the queue", image_id)
            await cache.dequeue(image_id)
            return False
        if image.status != ImageStatus.ACTIVE:
            log.warning("image cache: image %s is not active: not caching", image_id)
            return False
        key = cache_key(image)
        chunks = await self._images.stored_data(image)
        if key is None or chunks is None:
            log.warning("image cache: image %s has no data to cache", image_id)
            return False
        if await cache.is_cached(image_id):
            await cache.dequeue(image_id)
            return True
        fill = await cache.begin_fill(image_id, key.size)
        if fill is None:
            return False  # another process or download is filling it
        async for _ in self._tee(chunks, fill, key, place_later=False):
            pass
        return await cache.is_cached(image_id)

    async def stop(self) -> None:
        """Stop the prefetcher; wait a little for entries being placed."""
        if self._prefetcher is not None:
            self._prefetcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prefetcher
            self._prefetcher = None
        if self._placing:
            await asyncio.wait(set(self._placing), timeout=30)


__all__ = ["CLEAR_TARGETS", "CacheSettings", "CacheState", "ImageCacheService", "cache_key"]
