"""The storage layers call a job's guard right before the step no transaction covers
(the rename of whole data into place, a write into a volume), and a guard that
raises leaves what was there untouched and no unfinished copy behind."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cinderlite.domain.jobs import LeaseLost
from cinderlite.storage.backups.files import FileBackupStore
from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.volumes.base import DataRef
from cinderlite.storage.volumes.files import FileVolumeBackend

MiB = 1 << 20
BEFORE = b"what the new owner of the job wrote\n"


class Guard:
    """Counts its calls; raises LeaseLost from call number `fail_at` on."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self) -> None:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise LeaseLost("j")


def _scribble(path: Path, data: bytes) -> None:
    """`data` at the start of an existing file (tiny: a blocking write is fine here)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part" in p.name)


@pytest.mark.parametrize("kind", ["copy", "fill"])
async def test_a_volume_copy_is_placed_only_once_the_guard_lets_it(
    tmp_path: Path, kind: str,
) -> None:
    backend = FileVolumeBackend(tmp_path / "volumes")
    await backend.create("src", 4 * MiB)
    _scribble(backend.path("src"), os.urandom(MiB))
    backend.path("dst").write_bytes(BEFORE)

    async def copy(guard: Guard) -> None:
        if kind == "copy":
            await backend.copy(DataRef("volume", "src"), DataRef("volume", "dst"), 4 * MiB,
                               guard=guard)
        else:
            await backend.fill("dst", backend.path("src"), 4 * MiB, guard=guard)

    refusing = Guard(fail_at=1)
    with pytest.raises(LeaseLost):
        await copy(refusing)
    assert refusing.calls == 1
    assert backend.path("dst").read_bytes() == BEFORE
    assert _leftovers(backend.root) == []

    letting = Guard()
    await copy(letting)
    assert letting.calls == 1
    assert backend.path("dst").read_bytes() == backend.path("src").read_bytes()


async def test_replacing_places_the_tool_s_file_only_once_the_guard_lets_it(
    tmp_path: Path,
) -> None:
    backend = FileVolumeBackend(tmp_path / "volumes")
    backend.path("v").write_bytes(BEFORE)
    sizes: list[int] = []

    async def place_refused() -> None:
        async with backend.replacing("v", 2 * MiB, Guard(fail_at=1)) as part:
            sizes.append(part.stat().st_size)
            _scribble(part, b"new")

    with pytest.raises(LeaseLost):
        await place_refused()
    assert sizes == [2 * MiB]
    assert backend.path("v").read_bytes() == BEFORE
    assert _leftovers(backend.root) == []

    with pytest.raises(RuntimeError):  # the tool failed: nothing placed either
        async with backend.replacing("v", 2 * MiB, Guard()) as part:
            raise RuntimeError("qemu-img failed")
    assert backend.path("v").read_bytes() == BEFORE
    assert _leftovers(backend.root) == []

    async with backend.replacing("v", 2 * MiB, Guard()) as part:
        _scribble(part, b"new")
    assert backend.path("v").read_bytes()[:3] == b"new"
    assert backend.path("v").stat().st_size == 2 * MiB
    assert _leftovers(backend.root) == []


async def test_a_stale_copy_is_removed_by_the_next_attempt(tmp_path: Path) -> None:
    # Unfinished copies have random names: a new attempt removes those an earlier
    # one (a crash, a worker that lost the job) left, whatever their name.
    backend = FileVolumeBackend(tmp_path / "volumes")
    await backend.create("src", MiB)
    for stale in ("volume-dst.part", "volume-dst.part-0123456789ab"):
        (backend.root / stale).write_bytes(b"stale")
    await backend.copy(DataRef("volume", "src"), DataRef("volume", "dst"), MiB)
    assert _leftovers(backend.root) == []


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_an_image_is_committed_only_once_the_guard_lets_it(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    with pytest.raises(LeaseLost):
        await store.write("img", _chunks(b"A's bytes"), Guard(fail_at=1))
    assert not store.data_path("img").exists()
    assert list(store.staging_dir.iterdir()) == []
    store.data_path("img").write_bytes(BEFORE)
    with pytest.raises(LeaseLost):
        await store.write("img", _chunks(b"A's bytes"), Guard(fail_at=1))
    assert store.data_path("img").read_bytes() == BEFORE
    await store.write("img", _chunks(b"B's bytes"), Guard())
    assert store.data_path("img").read_bytes() == b"B's bytes"


BACKUP_ID = "0b7d6a4e-1f4c-4a8e-9c1e-0d6f5a1b2c3d"


async def test_a_backup_is_placed_only_once_the_guard_lets_it(tmp_path: Path) -> None:
    store = FileBackupStore(tmp_path / "backups", chunk_size=MiB, compression="none", workers=1)
    source = tmp_path / "volume"
    source.write_bytes(os.urandom(2 * MiB))
    with pytest.raises(LeaseLost):
        await store.write(BACKUP_ID, source, 2 * MiB, parents=[], guard=Guard(fail_at=1))
    assert not await store.has(BACKUP_ID)
    assert list((tmp_path / "backups").iterdir()) == []
    await store.write(BACKUP_ID, source, 2 * MiB, parents=[], guard=Guard())
    assert await store.has(BACKUP_ID)


async def test_a_restore_writes_nothing_past_a_guard_that_refuses(tmp_path: Path) -> None:
    store = FileBackupStore(tmp_path / "backups", chunk_size=MiB, compression="none", workers=1)
    source = tmp_path / "volume"
    data = os.urandom(3 * MiB)
    source.write_bytes(data)
    await store.write(BACKUP_ID, source, 3 * MiB, parents=[])
    target = tmp_path / "target"
    target.write_bytes(bytes(3 * MiB))
    # Every chunk's write asks the guard first: the second refuses, so at most the
    # first chunk landed.
    guard = Guard(fail_at=2)
    with pytest.raises(LeaseLost):
        await store.restore(BACKUP_ID, 3 * MiB, parents=[], target=target, fresh=True,
                            guard=guard)
    written = target.read_bytes()
    assert written[MiB:] == bytes(2 * MiB)
    assert written[:MiB] in (data[:MiB], bytes(MiB))
    counted = Guard()
    await store.restore(BACKUP_ID, 3 * MiB, parents=[], target=target, fresh=True,
                        guard=counted)
    assert target.read_bytes() == data
    assert counted.calls == 3
