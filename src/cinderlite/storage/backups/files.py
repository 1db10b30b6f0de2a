"""Backups as directories of chunk files: <backups_dir>/<backup id>/ holding
chunk-<index> files and metadata.json (datapath/backup_chunks.py, docs/backups.md).

A backup job writes into <id>.part-<random>/, renamed to <id>/ once its manifest
is durable (and the job's guard let it), so a directory under its final name is
always a whole backup; a crash leaves .part directories, which the next write
or `discard` removes. The random part keeps a worker that lost the job (paused
past its lease) off the directory of the one that took it over.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from cinderlite.datapath import backup_chunks as chunks
from cinderlite.domain.errors import BackupCorrupt
from cinderlite.domain.jobs import Guard
from cinderlite.storage.backups.base import BackupWritten
from cinderlite.storage.private import DIR_MODE, private_dir

# Backup ids are uuids made here; anything else never becomes a path.
_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FileBackupStore:
    def __init__(
        self, root: Path, *, chunk_size: int, compression: str, workers: int,
    ) -> None:
        if not chunks.MIN_CHUNK_SIZE <= chunk_size <= chunks.MAX_CHUNK_SIZE or (
            chunk_size % chunks.MIN_CHUNK_SIZE
        ):
            raise ValueError(
                f"backup chunk size must be a multiple of 4096 between "
                f"{chunks.MIN_CHUNK_SIZE} and {chunks.MAX_CHUNK_SIZE}"
            )
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.compression = chunks.normalise_compression(compression)
        self.workers = max(1, workers)
        private_dir(self.root)

    def _dir(self, backup_id: str) -> Path:
        if not _ID_RE.match(backup_id):
            raise ValueError(f"not a backup id: {backup_id!r}")
        return self.root / backup_id

    def _manifest(self, backup_id: str, size_bytes: int, depth: int) -> chunks.Manifest:
        return chunks.read_manifest(self._dir(backup_id), size=size_bytes, max_depth=depth)

    async def write(
        self, backup_id: str, source: Path, size_bytes: int, *, parents: Sequence[str],
        progress: Callable[[int], None] | None = None, stop: threading.Event | None = None,
        parent_size_bytes: int | None = None, guard: Guard | None = None,
    ) -> BackupWritten:
        final = self._dir(backup_id)
        part = final.with_name(f"{final.name}.part-{uuid.uuid4().hex[:12]}")

        def _write() -> BackupWritten:
            parent = None
            if parents:
                parent = self._manifest(
                    parents[0], parent_size_bytes if parent_size_bytes is not None
                    else size_bytes, len(parents) - 1,
                )
            _remove_parts(final)
            os.mkdir(part, DIR_MODE)
            try:
                manifest = chunks.write_backup(
                    source, size_bytes, part, chunk_size=self.chunk_size,
                    compression=self.compression, parent=parent, workers=self.workers,
                    progress=progress, stop=stop,
                )
                if guard is not None:
                    guard()
                # A whole backup left by an earlier run of the same job goes.
                shutil.rmtree(final, ignore_errors=True)
                os.replace(part, final)
                chunks.fsync_dir(self.root)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                raise
            data = sum(1 for c in manifest.chunks if c.sha256 is not None)
            return BackupWritten(manifest.stored_chunks, data)

        return await asyncio.to_thread(_write)

    async def restore(
        self, backup_id: str, size_bytes: int, *, parents: Sequence[str], target: Path,
        fresh: bool, progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None, guard: Guard | None = None,
    ) -> int:
        def _restore() -> int:
            manifest = self._manifest(backup_id, size_bytes, len(parents))
            chain = [self._dir(backup_id), *(self._dir(p) for p in parents)]
            return chunks.restore_backup(
                manifest, chain, target, fresh=fresh, workers=self.workers,
                progress=progress, stop=stop, guard=guard,
            )

        return await asyncio.to_thread(_restore)

    async def discard(self, backup_id: str) -> None:
        final = self._dir(backup_id)

        def _discard() -> None:
            _remove_parts(final)
            if final.exists():
                shutil.rmtree(final)

        await asyncio.to_thread(_discard)

    async def has(self, backup_id: str) -> bool:
        return await asyncio.to_thread((self._dir(backup_id) / chunks.MANIFEST).exists)

    async def adopt(
        self, backup_id: str, source_id: str, size_bytes: int, *, depth: int
    ) -> int:
        def _adopt() -> int:
            source = self._dir(source_id)
            # The manifest is checked before anything is linked: a record naming
            # no whole backup, or one of another size, adopts nothing.
            manifest = self._manifest(source_id, size_bytes, depth)
            if source_id == backup_id:
                return manifest.stored_chunks
            final = self._dir(backup_id)
            part = final.with_name(final.name + ".part")
            shutil.rmtree(part, ignore_errors=True)
            os.mkdir(part, DIR_MODE)
            try:
                names = [chunks.chunk_name(i) for i, c in enumerate(manifest.chunks)
                         if c.sha256 is not None and c.depth == 0]
                for name in [*names, chunks.MANIFEST]:
                    try:
                        _link_or_copy(source / name, part / name)
                    except FileNotFoundError:
                        raise BackupCorrupt(
                            f"The backup data is incomplete: {name} is missing."
                        ) from None
                chunks.fsync_dir(part)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(part, final)
                chunks.fsync_dir(self.root)
            except BaseException:
                shutil.rmtree(part, ignore_errors=True)
                raise
            return manifest.stored_chunks

        return await asyncio.to_thread(_adopt)


def _link_or_copy(source: Path, target: Path) -> None:
    """A second name for a chunk file (chunks are never rewritten in place); a
    durable copy where the filesystem has no hard links."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_parts(final: Path) -> None:
    """Remove the unfinished writes of the backup `final` (its `.part*` directories)."""
    for part in final.parent.glob(f"{final.name}.part*"):
        shutil.rmtree(part, ignore_errors=True)
