"""Images as files: <images_dir>/<id>, written to <images_dir>/.staging/<id>.* then renamed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from cinderlite.domain.errors import StorageFull
from cinderlite.storage.images.base import StoredImage


class FileImageStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging_dir = self.root / ".staging"
        self.staging_dir.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def staging_path(self, image_id: str) -> Path:
        return self.staging_dir / f"{image_id}.{uuid.uuid4().hex[:8]}"

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    async def exists(self, image_id: str) -> bool:
        return self.path(image_id).exists()

    async def commit(self, image_id: str, staging: Path) -> None:
        def _commit() -> None:
            fd = os.open(staging, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(staging, self.path(image_id))
            dfd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

        await asyncio.to_thread(_commit)

    async def write(self, image_id: str, chunks: AsyncIterator[bytes]) -> StoredImage:
        staging = self.staging_path(image_id)
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0
        fd = await asyncio.to_thread(os.open, staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for chunk in chunks:
                md5.update(chunk)
                sha.update(chunk)
                if chunk.count(0) == len(chunk):
                    # Leave a hole; the final ftruncate sets the length.
                    pass
                else:
                    try:
                        await asyncio.to_thread(os.pwrite, fd, chunk, size)
                    except OSError as exc:
                        raise StorageFull(f"Image store is full: {exc.strerror}") from exc
                size += len(chunk)
            os.ftruncate(fd, size)
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        os.close(fd)
        try:
            await self.commit(image_id, staging)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return StoredImage(size, md5.hexdigest(), "sha512", sha.hexdigest())

    async def read(self, image_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:  # type: ignore[override]
        fh = await asyncio.to_thread(open, self.path(image_id), "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(fh.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            fh.close()

    async def delete(self, image_id: str) -> None:
        def _delete() -> None:
            self.path(image_id).unlink(missing_ok=True)
            for p in self.staging_dir.glob(f"{image_id}.*"):
                p.unlink(missing_ok=True)

        await asyncio.to_thread(_delete)

    async def cleanup_staging(self, keep: set[str] | None = None) -> list[str]:
        keep = keep or set()
        removed: list[str] = []
        for p in list(self.staging_dir.iterdir()):
            if p.name.split(".", 1)[0] not in keep:
                p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed
