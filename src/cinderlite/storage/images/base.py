"""The ImageStore protocol: where image data lives.

Writes never expose half-written data: bytes go to a staging file which
`Staging.commit` renames into place. Staging files live on the store's own
file system, so the upload data path may write a converted image there
directly (`Staging.path`); an uncommitted staging removes its files when its
block ends, and the files a crash leaves are removed by `cleanup_staging` at
start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredImage:
    size: int
    checksum: str  # MD5 hex
    os_hash_algo: str  # "sha512"
    os_hash_value: str


class Staging(Protocol):
    """One write of an image's data that is not visible yet.

    `path` and `scratch()` are the only places staging file names surface,
    for the tools that write by name (qemu-img, the copy functions). Leaving
    the block that made it (`async with store.staging(image_id) as s`)
    without `commit` removes every file it handed out, on errors and
    cancellation too.
    """

    @property
    def path(self) -> Path:
        """The file `commit` makes the image's data; the writer creates it."""
        ...

    def scratch(self) -> AbstractAsyncContextManager[Path]:
        """A second file name on the same file system, removed when its block ends."""
        ...

    async def commit(self) -> None:
        """Atomically make `path` the image's data: fsync, rename, fsync the
        directory. StorageFull when the disk fills up (ENOSPC from the fsync or
        the rename), and then nothing was renamed."""
        ...


class ImageStore(Protocol):
    async def write(self, image_id: str, chunks: AsyncIterator[bytes]) -> StoredImage:
        """Store `chunks` as the image's data (staging + rename), hashing on the way."""
        ...

    def read(self, image_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def delete(self, image_id: str) -> None:
        """Remove the data and any staging file; a missing image is not an error."""
        ...

    async def exists(self, image_id: str) -> bool: ...

    async def size(self, image_id: str) -> int | None:
        """Byte size of the committed data, None if there is none."""
        ...

    def data_path(self, image_id: str) -> Path:
        """Where the committed data of `image_id` is (may not exist): the one
        path of committed data that surfaces, for tools that read it by name."""
        ...

    def staging(self, image_id: str) -> AbstractAsyncContextManager[Staging]:
        """A new Staging for `image_id`, its files removed when the block ends uncommitted."""
        ...

    def free_bytes(self) -> int:
        """Free space on the store's file system."""
        ...

    async def stored_ids(self) -> list[str]:
        """Ids of all images with committed data."""
        ...

    async def cleanup_staging(
        self, keep: set[str] | None = None, *, image_id: str | None = None
    ) -> list[str]:
        """Remove the staging files a crash (or an earlier attempt) left behind:
        those not belonging to `keep` image ids, only those of `image_id` when
        given; return the removed names. The recovery path: a Staging removes
        its own files."""
        ...
