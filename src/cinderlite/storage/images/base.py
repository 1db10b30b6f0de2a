"""The ImageStore protocol: where image data lives.

Writes never expose half-written data: bytes go to a staging file which is
renamed into place by `commit`. Staging files live on the store's own file
system, so the upload data path may write a converted image there directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredImage:
    size: int
    checksum: str  # MD5 hex
    os_hash_algo: str  # "sha512"
    os_hash_value: str


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

    def path(self, image_id: str) -> Path:
        """Where the committed data of `image_id` is (may not exist)."""
        ...

    def staging_path(self, image_id: str) -> Path:
        """A scratch file name on the store's file system for `image_id`."""
        ...

    async def commit(self, image_id: str, staging: Path) -> None:
        """Atomically make `staging` the image's data (rename + fsync)."""
        ...

    def free_bytes(self) -> int:
        """Free space on the store's file system."""
        ...

    async def stored_ids(self) -> list[str]:
        """Ids of all images with committed data."""
        ...

    async def cleanup_staging(self, keep: set[str] | None = None) -> list[str]:
        """Remove staging files not belonging to `keep` image ids; return removed names."""
        ...
