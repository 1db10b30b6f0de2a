"""Images as files: <images_dir>/<id>, written to <images_dir>/.staging/<id>.* then renamed.

A crash at any point leaves either no file for the image or the complete one:
data goes to a staging file (`staging()`), is fsynced, and only then renamed
into place by its `commit` (and the directory fsynced). Staging files a crash
leaves behind are removed by `cleanup_staging` at start-up.
"""

from __future__ import annotations

import asyncio
import functools
import os
import stat
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from cinderlite.datapath.hashing import ImageHasher
from cinderlite.datapath.streams import NO_SPACE, pwrite_sparse
from cinderlite.domain.errors import StorageFull
from cinderlite.domain.image_locations import BadLocation
from cinderlite.domain.jobs import Guard
from cinderlite.storage.images.base import OwnCatalog, StoredImage
from cinderlite.storage.images.staging import DirStaging, staging_in
from cinderlite.storage.private import FILE_MODE, private_dir


def _open_regular(path: Path) -> int:
    """Open `path` for reading only if its last component is a regular file and not
    a symbolic link (O_NOFOLLOW; O_NONBLOCK so that a FIFO cannot hang the open).
    The checks are made on the open file, so what was checked is what is read.
    BadLocation otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:  # ENOENT, ELOOP (a symbolic link), EACCES...
        raise BadLocation() from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadLocation()
    except BaseException:
        os.close(fd)
        raise
    return fd


async def read_regular(path: Path, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
    """The bytes of `path`, which must be a regular file reached without following a
    symbolic link at its last component (`_open_regular`): how data named by a
    location URL is read (services/image_locations.py). BadLocation otherwise."""
    fd = await asyncio.to_thread(_open_regular, path)
    try:
        while True:
            chunk = await asyncio.to_thread(os.read, fd, chunk_size)
            if not chunk:
                return
            yield chunk
    finally:
        os.close(fd)


def _storage_error(exc: OSError) -> Exception:
    if exc.errno in NO_SPACE:
        return StorageFull(f"Image storage media is full: {exc.strerror}")
    return exc


class FileImageStore(OwnCatalog):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging_dir = self.root / ".staging"
        private_dir(self.root)
        private_dir(self.staging_dir)

    def data_path(self, image_id: str) -> Path:
        return self.root / image_id

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    async def exists(self, image_id: str) -> bool:
        return self.data_path(image_id).exists()

    async def size(self, image_id: str) -> int | None:
        try:
            return self.data_path(image_id).stat().st_size
        except FileNotFoundError:
            return None

    def staging(self, image_id: str) -> AbstractAsyncContextManager[DirStaging]:
        return staging_in(self.staging_dir, image_id, functools.partial(self._commit, image_id))

    async def _commit(self, image_id: str, staging: Path, guard: Guard | None) -> None:
        """fsync the staging file, rename it into place (once `guard` let it), fsync
        the directory.

        The data's own fsync is where a delayed-allocation file system reports
        a full disk (ENOSPC from fsync, not from the writes): StorageFull, and
        nothing was renamed.
        """
        def _commit() -> None:
            try:
                fd = os.open(staging, os.O_RDONLY)
                try:
                    # qemu-img made some of these files, with the process umask.
                    os.fchmod(fd, FILE_MODE)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if guard is not None:
                    guard()
                os.replace(staging, self.data_path(image_id))
                dfd = os.open(self.root, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            except OSError as exc:
                raise _storage_error(exc) from exc

        await asyncio.to_thread(_commit)

    async def write(
        self, image_id: str, chunks: AsyncIterator[bytes], guard: Guard | None = None,
    ) -> StoredImage:
        """Stream `chunks` into a staging file (sparse), hashing in parallel, then
        commit. If `chunks` raises (client gone, size cap, failed inspection) or
        the disk fills up (StorageFull), the staging file is removed and nothing
        becomes visible: every write is complete or the upload fails."""
        hasher = ImageHasher()
        offset = 0
        async with self.staging(image_id) as staging:
            fd = await asyncio.to_thread(
                os.open, staging.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            try:
                async for chunk in chunks:
                    await asyncio.gather(
                        hasher.aupdate(chunk),
                        asyncio.to_thread(pwrite_sparse, fd, chunk, offset),
                    )
                    offset += len(chunk)
                # Holes at the end need the length set explicitly.
                await asyncio.to_thread(os.ftruncate, fd, offset)
            except OSError as exc:
                raise _storage_error(exc) from exc
            finally:
                os.close(fd)
            await staging.commit(guard)
        d = await hasher.aresult()
        return StoredImage(d.size, d.checksum, d.os_hash_algo, d.os_hash_value)

    async def read(
        self, image_id: str, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(open, self.data_path(image_id), "rb")
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
            self.data_path(image_id).unlink(missing_ok=True)
            for p in self.staging_dir.glob(f"{image_id}.*"):
                p.unlink(missing_ok=True)

        await asyncio.to_thread(_delete)

    async def stored_ids(self) -> list[str]:
        def _ids() -> list[str]:
            return [p.name for p in self.root.iterdir() if p.is_file() and len(p.name) == 36]

        return await asyncio.to_thread(_ids)

    async def cleanup_staging(
        self, keep: set[str] | None = None, *, image_id: str | None = None
    ) -> list[str]:
        keep = keep or set()

        def _cleanup() -> list[str]:
            removed: list[str] = []
            found = (
                self.staging_dir.iterdir() if image_id is None
                else self.staging_dir.glob(f"{image_id}.*")
            )
            for p in list(found):
                if p.name.split(".", 1)[0] not in keep:
                    p.unlink(missing_ok=True)
                    removed.append(p.name)
            return removed

        return await asyncio.to_thread(_cleanup)
