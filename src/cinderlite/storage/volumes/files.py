"""Volumes as sparse raw files: <volumes_dir>/volume-<id>."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from cinderlite.datapath.streams import NO_SPACE, pwrite_sparse
from cinderlite.domain.errors import StorageFull
from cinderlite.storage.private import private_dir


class FileVolumeBackend:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        private_dir(self.root)

    def path(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}"

    async def create(self, volume_id: str, size_bytes: int) -> None:
        def _create() -> None:
            # A new file truncated to size: sparse, reads as zeros, no blocks used.
            fd = os.open(self.path(volume_id), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.ftruncate(fd, size_bytes)
            except OSError as exc:
                raise StorageFull(f"Cannot create volume {volume_id}: {exc.strerror}") from exc
            finally:
                os.close(fd)

        await asyncio.to_thread(_create)

    async def delete(self, volume_id: str) -> None:
        await asyncio.to_thread(self.path(volume_id).unlink, missing_ok=True)

    def capacity(self) -> tuple[int, int]:
        st = os.statvfs(self.root)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    async def exists(self, volume_id: str) -> bool:
        return self.path(volume_id).exists()

    async def read(self, volume_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(open, self.path(volume_id), "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(fh.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            fh.close()

    async def write(self, volume_id: str, chunks: AsyncIterator[bytes]) -> int:
        """Overwrite from offset 0; all-zero pieces are skipped so the file stays sparse.

        Every byte is written or StorageFull is raised (a short write is
        continued, ENOSPC from a write or from the final fsync fails); the
        volume then holds a partial copy, and the caller marks it `error`.
        """
        fd = await asyncio.to_thread(os.open, self.path(volume_id), os.O_WRONLY)
        written = 0
        try:
            async for chunk in chunks:
                await asyncio.to_thread(pwrite_sparse, fd, chunk, written)
                written += len(chunk)
            await asyncio.to_thread(os.fsync, fd)
        except (StorageFull, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in NO_SPACE:
                raise
            reason = exc.strerror if isinstance(exc, OSError) else exc.message
            raise StorageFull(f"Cannot write volume {volume_id}: {reason}") from exc
        finally:
            os.close(fd)
        return written
