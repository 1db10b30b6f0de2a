"""The ImageStore protocol: where image data lives.

Writes never expose half-written data: bytes go to a staging file which
`Staging.commit` renames into place. Staging files live on the store's own
file system, so the upload data path may write a converted image there
directly (`Staging.path`); an uncommitted staging removes its files when its
block ends, and the files a crash leaves are removed by `cleanup_staging` at
start-up.

An image's record (name, formats, status, owner) lives in the images table,
unless the store keeps records of its own (`remote_catalog`: a cloud's Glance,
storage/images/glance.py). Then `register` makes the record there, `lookup`
reads it, `delete` removes it with its data, and `as_user` binds the store to
the caller's token for those calls. A store without a catalog of its own
(`OwnCatalog`) does nothing more for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cinderlite.domain.jobs import Guard


@dataclass(frozen=True)
class StoredImage:
    size: int
    checksum: str  # MD5 hex
    os_hash_algo: str  # "sha512"
    os_hash_value: str


@dataclass(frozen=True)
class ImageDraft:
    """A new image's record, as `register` makes it (None: not sent, the store's default)."""

    id: str
    name: str
    disk_format: str | None
    container_format: str | None
    visibility: str | None = None
    protected: bool | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogImage:
    """An image's record in a store that keeps its own (`lookup`)."""

    id: str
    name: str | None
    status: str
    owner: str | None
    visibility: str
    protected: bool
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    min_disk: int
    min_ram: int
    properties: dict[str, str] = field(default_factory=dict)


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

    async def commit(self, guard: Guard | None = None) -> None:
        """Atomically make `path` the image's data: fsync, rename, fsync the
        directory. StorageFull when the disk fills up (ENOSPC from the fsync or
        the rename), and then nothing was renamed. A job's `guard` is called
        right before the rename (after the fsync): when it raises, nothing was
        renamed."""
        ...


class ImageStore(Protocol):
    # True when image records live in the store (a cloud's Glance), not in the images table.
    remote_catalog: bool

    def as_user(self, token: str) -> ImageStore:
        """This store acting for the caller whose token this is (a store that keeps
        no records of its own, or no token: itself)."""
        ...

    async def register(self, draft: ImageDraft) -> None:
        """Make the image's queued record in the store's own catalog (nothing when
        it has none); `delete` undoes it."""
        ...

    async def lookup(self, image_id: str) -> CatalogImage | None:
        """The image's record as the store's own catalog shows it to the caller; None
        when it does not (not there, not visible, or no catalog of its own)."""
        ...

    def local_copy(self, image_id: str) -> AbstractAsyncContextManager[Path]:
        """A file holding the committed data while the block lasts, for tools that
        read by name: the data file itself, or a downloaded copy removed afterwards."""
        ...

    async def discard(self, image_id: str) -> None:
        """Remove data and staging files an earlier attempt left, keeping the record
        (for a store without records of its own: `delete`)."""
        ...

    async def write(
        self, image_id: str, chunks: AsyncIterator[bytes], guard: Guard | None = None,
    ) -> StoredImage:
        """Store `chunks` as the image's data (staging + rename), hashing on the way;
        `guard` as for `Staging.commit`."""
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


class OwnCatalog:
    """The record-related part of ImageStore for stores whose records are the images
    table: nothing to register or look up, data read in place."""

    remote_catalog = False

    def as_user(self, token: str) -> ImageStore:
        return self  # type: ignore[return-value]

    async def register(self, draft: ImageDraft) -> None:
        return None

    async def lookup(self, image_id: str) -> CatalogImage | None:
        return None

    @contextlib.asynccontextmanager
    async def local_copy(self, image_id: str) -> AsyncIterator[Path]:
        yield self.data_path(image_id)

    def data_path(self, image_id: str) -> Path:
        raise NotImplementedError

    async def discard(self, image_id: str) -> None:
        await self.delete(image_id)

    async def delete(self, image_id: str) -> None:
        raise NotImplementedError
