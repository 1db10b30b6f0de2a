"""Volumes as sparse raw files: <volumes_dir>/volume-<id>; snapshots beside them as
<volumes_dir>/snapshot-<id>. A copy is written as <name>.part-<random> and renamed.

The random part keeps two workers that both think they run one job (one paused
past its lease) off each other's file: the one that lost the job removes only
its own copy (its guard refuses the rename), and a new attempt removes what
earlier ones left before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from cinderlite.datapath.clone import copy_volume
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import NO_SPACE, pwrite_sparse, run_blocking
from cinderlite.domain.errors import StorageFull
from cinderlite.domain.jobs import Guard
from cinderlite.storage.private import private_dir
from cinderlite.storage.volumes.base import Copied, DataRef


class FileVolumeBackend:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        private_dir(self.root)

    def path(self, volume_id: str) -> Path:
        return self.root / f"volume-{volume_id}"

    def _file(self, ref: DataRef) -> Path:
        return self.root / f"{ref.kind}-{ref.id}"

    def data_path(self, ref: DataRef) -> Path:
        return self._file(ref)

    async def copy(
        self, source: DataRef, target: DataRef, size_bytes: int,
        progress: Progress | None = None, guard: Guard | None = None,
    ) -> Copied:
        return await self._copy_file(
            self._file(source), self._file(target), size_bytes, progress, guard
        )

    async def fill(
        self, volume_id: str, source: Path, size_bytes: int, progress: Progress | None = None,
        guard: Guard | None = None,
    ) -> Copied:
        return await self._copy_file(source, self.path(volume_id), size_bytes, progress, guard)

    async def _copy_file(
        self, source: Path, final: Path, size_bytes: int, progress: Progress | None,
        guard: Guard | None,
    ) -> Copied:
        """`copy_volume` of `source` into a new `<final>.part-<random>` (fsynced),
        renamed to `final` once `guard` (a job's lease) let it."""
        part = _new_part(final)
        # What a crash left of an earlier attempt (the copy creates `part` exclusively).
        await asyncio.to_thread(_remove_parts, final)
        result = await run_blocking(
            copy_volume, source, part, size_bytes=size_bytes, progress=progress,
            stop=threading.Event(),
        )
        await asyncio.to_thread(self._place, part, final, guard)
        return Copied(result.method, result.bytes_copied)

    def _place(self, part: Path, final: Path, guard: Guard | None) -> None:
        """Rename the whole, already durable `part` to `final` once `guard` let it, then
        fsync the directory; `part` is removed on any error."""
        try:
            if guard is not None:
                guard()
            os.replace(part, final)
            dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            part.unlink(missing_ok=True)
            raise

    @contextlib.asynccontextmanager
    async def replacing(
        self, volume_id: str, size_bytes: int, guard: Guard | None = None,
    ) -> AsyncIterator[Path]:
        final = self.path(volume_id)
        part = _new_part(final)

        def _create() -> None:
            _remove_parts(final)  # what a crash left of an earlier attempt
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, size_bytes)
            except OSError as exc:
                part.unlink(missing_ok=True)
                raise StorageFull(f"Cannot create volume {volume_id}: {exc.strerror}") from exc
            finally:
                os.close(fd)

        await asyncio.to_thread(_create)
        try:
            yield part
        except BaseException:
            await asyncio.shield(asyncio.to_thread(part.unlink, missing_ok=True))
            raise
        await asyncio.to_thread(self._place, part, final, guard)

    async def discard(self, ref: DataRef) -> None:
        def _discard() -> None:
            final = self._file(ref)
            _remove_parts(final)
            final.unlink(missing_ok=True)

        await asyncio.to_thread(_discard)

    async def has(self, ref: DataRef) -> bool:
        return await asyncio.to_thread(self._file(ref).exists)

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
        await self.discard(DataRef("volume", volume_id))

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


def _new_part(final: Path) -> Path:
    return final.with_name(f"{final.name}.part-{uuid.uuid4().hex[:12]}")


def _remove_parts(final: Path) -> None:
    """Remove the unfinished copies of `final` (this name's `.part-*` files, and the
    `.part` of earlier releases)."""
    for part in final.parent.glob(f"{final.name}.part*"):
        part.unlink(missing_ok=True)
