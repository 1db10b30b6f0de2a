"""FileImageStore and MemoryImageStore behave alike: hashes, staging, sparse files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cinderlite.domain.errors import UnsupportedMedia
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


async def test_commit_and_cleanup_staging(store) -> None:  # type: ignore[no-untyped-def]
    staging = store.staging_path(IMG)
    staging.write_bytes(b"converted")
    await store.commit(IMG, staging)
    assert b"".join([c async for c in store.read(IMG)]) == b"converted"
    orphan = store.staging_path("11111111-2222-3333-4444-555555555555")
    orphan.write_bytes(b"x")
    kept = store.staging_path(IMG)
    kept.write_bytes(b"y")
    removed = await store.cleanup_staging(keep={IMG})
    assert removed == [orphan.name]
    assert kept.exists()
    assert not orphan.exists()


async def test_file_store_writes_zero_blocks_as_holes(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    data = os.urandom(4096) + bytes(8 << 20) + os.urandom(4096) + bytes(1 << 20)
    await store.write(IMG, agen([data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]))
    path = store.path(IMG)
    assert path.read_bytes() == data
    assert path.stat().st_blocks * 512 < len(data) // 2
