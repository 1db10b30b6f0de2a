"""The BackupStore protocol: where backups' bytes live, apart from the volumes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cinderlite.domain.jobs import Guard


@dataclass(frozen=True)
class BackupWritten:
    """What a backup stored: its chunk files, and the data bytes it read."""

    object_count: int
    data_chunks: int


class BackupStore(Protocol):
    async def write(
        self, backup_id: str, source: Path, size_bytes: int, *, parents: Sequence[str],
        progress: Callable[[int], None] | None = None, stop: threading.Event | None = None,
        parent_size_bytes: int | None = None, guard: Guard | None = None,
    ) -> BackupWritten:
        """Back `size_bytes` of the file `source` up as `backup_id`, reusing the chunks
        of `parents[0]` (its parent, `parent_size_bytes` long; `parents` lists its
        ancestors, nearest first) that did not change. Atomic: until it returns
        the backup does not exist under its name; on failure (StorageFull when
        the space runs out) nothing of it is left. A backup already under the
        name (a run before a crash) is replaced, once a job's `guard` let it."""
        ...

    async def restore(
        self, backup_id: str, size_bytes: int, *, parents: Sequence[str], target: Path,
        fresh: bool, progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None, guard: Guard | None = None,
    ) -> int:
        """Write the backup into the volume file `target`, verifying every chunk
        (BackupCorrupt on a mismatch); returns the data bytes written. A job's
        `guard` is called before every write into `target` (each chunk, the
        zeroing of a volume restored into)."""
        ...

    async def discard(self, backup_id: str) -> None:
        """Remove the backup's bytes and any unfinished write of them; a missing
        backup is not an error."""
        ...

    async def has(self, backup_id: str) -> bool: ...

    async def adopt(
        self, backup_id: str, source_id: str, size_bytes: int, *, depth: int
    ) -> int:
        """Make the bytes of the backup stored as `source_id` (`size_bytes` long,
        with `depth` ancestors) also the bytes of `backup_id` (an imported
        record): the manifest is verified first (BackupCorrupt when it is not a
        whole backup of that size, FileNotFoundError when there is none); then
        the chunk files get a second name (hard links: deleting either backup
        leaves the other whole). Atomic like `write`; `source_id == backup_id`
        only verifies. Returns the chunk files the backup stores itself."""
        ...
