"""The VolumeBackend protocol: where a volume's bytes live."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cinderlite.datapath.hashing import Progress
from cinderlite.domain.jobs import Guard


@dataclass(frozen=True)
class DataRef:
    """Bytes the backend keeps: a volume's or a snapshot's."""

    kind: Literal["volume", "snapshot"]
    id: str


@dataclass(frozen=True)
class Copied:
    """How a copy was made: `reflink` (shared extents, O(1)) or `sparse` (data
    extents copied, holes kept), and how many bytes of data it moved."""

    method: str
    bytes_copied: int


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

    def data_path(self, ref: DataRef) -> Path:
        """The file holding a volume's or a snapshot's bytes (raw), for the data
        path to read (backups)."""
        ...

    def read(self, volume_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def write(self, volume_id: str, chunks: AsyncIterator[bytes]) -> int:
        """Overwrite the volume from its start with `chunks`; returns bytes written."""
        ...

    async def copy(
        self, source: DataRef, target: DataRef, size_bytes: int,
        progress: Progress | None = None, guard: Guard | None = None,
    ) -> Copied:
        """Make `target` a point-in-time copy of `source`, `size_bytes` long (at least
        the source's size; the rest reads as zeros). Atomic: until it returns the
        target does not exist under its name, so a crash leaves no half copy
        behind (`discard` removes what such a crash leaves aside). StorageFull
        when the space runs out; the target is then absent. `progress` moves
        from 0 to the source's length as the copy goes. A job's `guard` is
        called right before the whole copy takes the target's name: when it
        raises (LeaseLost) the copy is removed and the target left as it was."""
        ...

    async def fill(
        self, volume_id: str, source: Path, size_bytes: int, progress: Progress | None = None,
        guard: Guard | None = None,
    ) -> Copied:
        """Make the volume a copy of the raw file `source` (an image's bytes), `size_bytes`
        long (at least `source`'s size; the rest reads as zeros), replacing what the
        volume held. Atomic and durable like `copy`: the volume's file is replaced
        only by a whole, fsynced copy, and only once `guard` let it (as `copy`).
        StorageFull when the space runs out."""
        ...

    def replacing(
        self, volume_id: str, size_bytes: int, guard: Guard | None = None,
    ) -> AbstractAsyncContextManager[Path]:
        """A new all-zero file of `size_bytes` beside the volume's, for a tool that
        writes by name (qemu-img); the writer leaves it durable (qemu-img's
        writeback cache flushes on exit, a restore fsyncs). When the block ends
        without an error it replaces the volume's data once `guard` let it
        (atomic as `copy`); on any error, `guard`'s included, it is removed and
        the volume left as it was."""
        ...

    async def discard(self, ref: DataRef) -> None:
        """Remove a volume's or snapshot's bytes and any unfinished copy of them; a
        missing one is not an error."""
        ...

    async def has(self, ref: DataRef) -> bool: ...
