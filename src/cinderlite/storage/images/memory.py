"""MemoryImageStore: the ImageStore protocol in a dict, for unit tests.

`staging()` hands out files in a scratch directory the test provides
(tmp_path), because callers such as the upload worker write staging files with
qemu-img; its commit moves the bytes into the dict.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from cinderlite.datapath.hashing import ImageHasher
from cinderlite.domain.errors import StorageFull
from cinderlite.domain.jobs import Guard
from cinderlite.storage.images.base import OwnCatalog, StoredImage
from cinderlite.storage.images.staging import DirStaging, staging_in


class MemoryImageStore(OwnCatalog):
    def __init__(self, scratch_dir: Path | None = None, *, capacity: int = 1 << 40) -> None:
        self.data: dict[str, bytes] = {}
        self.scratch_dir = scratch_dir
        self.capacity = capacity

    def _used(self) -> int:
        return sum(len(v) for v in self.data.values())

    def _scratch_dir(self) -> Path:
        if self.scratch_dir is None:
            raise NotImplementedError("MemoryImageStore has no files without a scratch_dir")
        return self.scratch_dir

    def data_path(self, image_id: str) -> Path:
        return self._scratch_dir() / f"committed-{image_id}"

    def staging(self, image_id: str) -> AbstractAsyncContextManager[DirStaging]:
        return staging_in(
            self._scratch_dir(), image_id, functools.partial(self._commit, image_id)
        )

    def free_bytes(self) -> int:
        return max(self.capacity - self._used(), 0)

    async def exists(self, image_id: str) -> bool:
        return image_id in self.data

    async def size(self, image_id: str) -> int | None:
        blob = self.data.get(image_id)
        return None if blob is None else len(blob)

    async def _commit(self, image_id: str, staging: Path, guard: Guard | None) -> None:
        blob = await asyncio.to_thread(staging.read_bytes)
        if guard is not None:
            await asyncio.to_thread(guard)
        self.data[image_id] = blob
        await asyncio.to_thread(staging.unlink)

    async def write(
        self, image_id: str, chunks: AsyncIterator[bytes], guard: Guard | None = None,
    ) -> StoredImage:
        hasher = ImageHasher()
        parts: list[bytes] = []
        async for chunk in chunks:
            await hasher.aupdate(chunk)
            parts.append(chunk)
            if hasher.size > self.free_bytes():
                raise StorageFull("Image storage media is full")
        if guard is not None:
            await asyncio.to_thread(guard)
        self.data[image_id] = b"".join(parts)
        d = await hasher.aresult()
        return StoredImage(d.size, d.checksum, d.os_hash_algo, d.os_hash_value)

    async def read(
        self, image_id: str, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        blob = self.data[image_id]
        for i in range(0, len(blob), chunk_size):
            yield blob[i : i + chunk_size]

    async def delete(self, image_id: str) -> None:
        self.data.pop(image_id, None)
        if self.scratch_dir is not None:
            for p in self.scratch_dir.glob(f"{image_id}.*"):
                p.unlink(missing_ok=True)

    async def stored_ids(self) -> list[str]:
        return list(self.data)

    async def cleanup_staging(
        self, keep: set[str] | None = None, *, image_id: str | None = None
    ) -> list[str]:
        if self.scratch_dir is None:
            return []
        keep = keep or set()
        removed = []
        for p in list(self.scratch_dir.iterdir()):
            owner = p.name.split(".", 1)[0]
            if image_id is not None and owner != image_id:
                continue
            if not p.name.startswith("committed-") and owner not in keep:
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed
