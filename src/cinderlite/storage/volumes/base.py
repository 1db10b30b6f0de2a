"""The VolumeBackend protocol: where a volume's bytes live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol


class VolumeBackend(Protocol):
    async def create(self, volume_id: str, size_bytes: int) -> None:
        """Make an all-zero volume of `size_bytes` (sparse where possible)."""
        ...

    async def delete(self, volume_id: str) -> None:
        """Remove the volume's data; a missing volume is not an error."""
        ...

    async def exists(self, volume_id: str) -> bool: ...

    def capacity(self) -> tuple[int, int]:
        """(total bytes, free bytes) of where volumes are kept."""
        ...

    def path(self, volume_id: str) -> Path:
        """A file path qemu-img and the data path can open (raw format)."""
        ...

    def read(self, volume_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def write(self, volume_id: str, chunks: AsyncIterator[bytes]) -> int:
        """Overwrite the volume from its start with `chunks`; returns bytes written."""
        ...
