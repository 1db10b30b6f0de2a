"""Staging files in a directory: the Staging object both image stores hand out.

Every file name a staging hands out (`path`, `scratch()`) is
`<directory>/<image id>.<random>`, the pattern `cleanup_staging` and `delete`
of the stores recognise, so a crash leaves nothing the start-up sweep misses.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from cinderlite.domain.jobs import Guard


class DirStaging:
    """One not yet visible write of an image's data (see base.Staging).

    Names are handed out lazily: a staging whose `path` is never asked for
    costs no system call at all, and one that was committed has nothing left
    to remove.
    """

    def __init__(
        self, directory: Path, image_id: str,
        commit: Callable[[Path, Guard | None], Awaitable[None]],
    ) -> None:
        self._directory = directory
        self._image_id = image_id
        self._commit = commit
        self._path: Path | None = None
        self._committed = False
        self._files: list[Path] = []  # handed out and not committed or removed yet

    def _new_name(self) -> Path:
        name = self._directory / f"{self._image_id}.{uuid.uuid4().hex[:8]}"
        self._files.append(name)
        return name

    @property
    def path(self) -> Path:
        """The file `commit` makes the image's data; whoever writes it creates it."""
        if self._committed:
            raise RuntimeError("staging already committed")
        if self._path is None:
            self._path = self._new_name()
        return self._path

    @contextlib.asynccontextmanager
    async def scratch(self) -> AsyncIterator[Path]:
        """A second file name beside `path` (e.g. a conversion that is then
        packed into `path`), removed when the block ends."""
        name = self._new_name()
        try:
            yield name
        finally:
            await _remove([name])
            if name in self._files:
                self._files.remove(name)

    async def commit(self, guard: Guard | None = None) -> None:
        """Atomically make `path` the image's data (durable once this returns);
        `guard`, a job's, is called right before the data becomes the image's."""
        path = self.path
        await self._commit(path, guard)
        self._committed = True
        self._files.remove(path)

    async def abandon(self) -> None:
        """Remove every file this staging handed out (the end of an uncommitted block)."""
        files, self._files = self._files, []
        if files:
            await _remove(files)


async def _remove(files: list[Path]) -> None:
    def _unlink() -> None:
        for f in files:
            f.unlink(missing_ok=True)

    # Shielded: a second cancellation (two parties may cancel one upload) must
    # not drop the removal before its thread started.
    with contextlib.suppress(OSError):
        await asyncio.shield(asyncio.to_thread(_unlink))


@contextlib.asynccontextmanager
async def staging_in(
    directory: Path, image_id: str, commit: Callable[[Path, Guard | None], Awaitable[None]]
) -> AsyncIterator[DirStaging]:
    """A DirStaging for `image_id` whose files are all gone when the block ends,
    however it ends, unless `commit` made one of them the image's data."""
    staging = DirStaging(directory, image_id, commit)
    try:
        yield staging
    finally:
        await staging.abandon()
