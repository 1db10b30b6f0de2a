"""FileImageStore and MemoryImageStore behave alike: hashes, staging, sparse files."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from cinderlite.domain.errors import StorageFull, UnsupportedMedia
from cinderlite.storage.images import files
from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.images.memory import MemoryImageStore

IMG = "0b7f3c5e-4c8e-4b6a-9a77-1d2c3e4f5a6b"


async def agen(parts):  # type: ignore[no-untyped-def]
    for p in parts:
        yield p


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "file":
        return FileImageStore(tmp_path / "images")
    (tmp_path / "scratch").mkdir()
    return MemoryImageStore(tmp_path / "scratch")


async def test_write_read_delete(store) -> None:  # type: ignore[no-untyped-def]
    parts = [os.urandom(1000), bytes(200_000), os.urandom(10)]
    data = b"".join(parts)
    stored = await store.write(IMG, agen(parts))
    assert stored.size == len(data)
    assert stored.checksum == hashlib.md5(data).hexdigest()
    assert stored.os_hash_value == hashlib.sha512(data).hexdigest()
    assert await store.exists(IMG)
    assert await store.size(IMG) == len(data)
    assert b"".join([c async for c in store.read(IMG, chunk_size=4096)]) == data
    assert await store.stored_ids() == [IMG]
    await store.delete(IMG)
    assert not await store.exists(IMG)
    await store.delete(IMG)  # missing is fine


async def test_failed_stream_leaves_nothing(store) -> None:  # type: ignore[no-untyped-def]
    async def failing():  # type: ignore[no-untyped-def]
        yield b"data"
        raise UnsupportedMedia("bad")

    with pytest.raises(UnsupportedMedia):
        await store.write(IMG, failing())
    assert not await store.exists(IMG)
    assert await store.cleanup_staging() == []


def staging_files(store) -> list[str]:  # type: ignore[no-untyped-def]
    where = store.staging_dir if isinstance(store, FileImageStore) else store.scratch_dir
    return sorted(p.name for p in where.iterdir() if not p.name.startswith("committed-"))


def crashed_staging(store, image_id: str, data: bytes) -> Path:  # type: ignore[no-untyped-def]
    """What a crash mid-write leaves: a staging file of `image_id` (the name a Staging gives)."""
    where = store.staging_dir if isinstance(store, FileImageStore) else store.scratch_dir
    path = where / f"{image_id}.{uuid.uuid4().hex[:8]}"
    path.write_bytes(data)
    return path


async def test_staging_commit_makes_the_data(store) -> None:  # type: ignore[no-untyped-def]
    async with store.staging(IMG) as staging:
        staging.path.write_bytes(b"converted")
        assert not await store.exists(IMG)
        await staging.commit()
    assert b"".join([c async for c in store.read(IMG)]) == b"converted"
    assert await store.size(IMG) == len(b"converted")
    assert staging_files(store) == []


async def test_staging_commit_of_packed_data_removes_the_scratch(store) -> None:  # type: ignore[no-untyped-def]
    async with store.staging(IMG) as staging:
        async with staging.scratch() as converted:
            converted.write_bytes(b"converted")
            assert converted != staging.path
            assert converted.parent == staging.path.parent
            staging.path.write_bytes(b"packed " + converted.read_bytes())
        assert not converted.exists()
        await staging.commit()
    assert b"".join([c async for c in store.read(IMG)]) == b"packed converted"
    assert staging_files(store) == []


async def test_staging_left_without_commit_removes_its_files(store) -> None:  # type: ignore[no-untyped-def]
    async with store.staging(IMG) as staging:
        staging.path.write_bytes(b"half")
        async with staging.scratch() as extra:
            extra.write_bytes(b"more")
            assert len(staging_files(store)) == 2
        assert len(staging_files(store)) == 1
    assert staging_files(store) == []
    assert not await store.exists(IMG)


async def test_staging_failing_block_removes_its_files(store) -> None:  # type: ignore[no-untyped-def]
    async def write() -> None:
        async with store.staging(IMG) as staging:
            staging.path.write_bytes(b"half")
            async with staging.scratch() as extra:
                extra.write_bytes(b"more")
                raise UnsupportedMedia("bad")

    with pytest.raises(UnsupportedMedia):
        await write()
    assert staging_files(store) == []
    assert not await store.exists(IMG)


async def test_staging_cancelled_block_removes_its_files(store) -> None:  # type: ignore[no-untyped-def]
    written = asyncio.Event()

    async def write() -> None:
        async with store.staging(IMG) as staging:
            staging.path.write_bytes(b"half")
            written.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(write())
    await written.wait()
    assert len(staging_files(store)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert staging_files(store) == []
    assert not await store.exists(IMG)


async def test_staging_committed_once(store) -> None:  # type: ignore[no-untyped-def]
    async with store.staging(IMG) as staging:
        staging.path.write_bytes(b"data")
        await staging.commit()
        with pytest.raises(RuntimeError):
            await staging.commit()
    assert b"".join([c async for c in store.read(IMG)]) == b"data"


async def test_cleanup_staging_removes_what_a_crash_left(store) -> None:  # type: ignore[no-untyped-def]
    other = "11111111-2222-3333-4444-555555555555"
    third = "66666666-7777-8888-9999-000000000000"
    orphan = crashed_staging(store, other, b"x")
    kept = crashed_staging(store, IMG, b"y")
    removed = await store.cleanup_staging(keep={IMG, third})
    assert removed == [orphan.name]
    assert kept.exists()
    assert not orphan.exists()
    gone = crashed_staging(store, third, b"z")
    assert await store.cleanup_staging(image_id=IMG) == [kept.name]
    assert not kept.exists()
    assert gone.exists()


async def test_file_store_writes_zero_blocks_as_holes(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    data = os.urandom(4096) + bytes(8 << 20) + os.urandom(4096) + bytes(1 << 20)
    await store.write(IMG, agen([data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]))
    path = store.data_path(IMG)
    assert path.read_bytes() == data
    assert path.stat().st_blocks * 512 < len(data) // 2


@pytest.mark.parametrize("call", ["fsync", "replace"])
async def test_file_store_commit_on_a_full_disk_is_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """A delayed-allocation file system reports a full disk from fsync (or the
    rename): StorageFull, nothing renamed, the staging file removed."""
    store = FileImageStore(tmp_path / "images")

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def write() -> None:
        async with store.staging(IMG) as staging:
            staging.path.write_bytes(b"data")
            monkeypatch.setattr(files.os, call, full)
            await staging.commit()

    with pytest.raises(StorageFull, match="Image storage media is full"):
        await write()
    monkeypatch.undo()
    assert not store.data_path(IMG).exists()
    assert not await store.exists(IMG)
    assert list(store.staging_dir.iterdir()) == []
