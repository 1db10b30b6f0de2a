"""A write that the kernel cuts short is continued, never taken for done.

os.pwrite may write fewer bytes than asked (a disk about to fill, a signal);
the writers must loop. Here pwrite writes at most 1000 bytes per call, so a
writer that ignores its return value leaves holes and fails the byte check.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cinderlite.datapath import streams
from cinderlite.domain.errors import StorageFull
from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.volumes.files import FileVolumeBackend

MiB = 1 << 20


@pytest.fixture
def stingy_pwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.pwrite

    def short(fd: int, data: bytes, offset: int) -> int:
        return real(fd, memoryview(data)[:1000], offset)

    monkeypatch.setattr(streams.os, "pwrite", short)


def pieces(data: bytes, size: int = 300_001) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return gen()


async def test_image_store_finishes_short_writes(tmp_path: Path, stingy_pwrite: None) -> None:
    data = os.urandom(MiB) + bytes(MiB) + os.urandom(12345)
    store = FileImageStore(tmp_path / "images")
    stored = await store.write("img", pieces(data))
    assert store.data_path("img").read_bytes() == data
    assert stored.checksum == hashlib.md5(data).hexdigest()


async def test_volume_writer_finishes_short_writes(tmp_path: Path, stingy_pwrite: None) -> None:
    data = os.urandom(MiB) + bytes(MiB) + os.urandom(12345)
    volumes = FileVolumeBackend(tmp_path / "volumes")
    await volumes.create("v", 4 * MiB)
    assert await volumes.write("v", pieces(data)) == len(data)
    assert volumes.path("v").read_bytes()[: len(data)] == data


async def test_no_space_is_storage_full_and_nothing_is_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(streams.os, "pwrite", full)
    store = FileImageStore(tmp_path / "images")
    with pytest.raises(StorageFull, match="Image storage media is full"):
        await store.write("img", pieces(os.urandom(MiB)))
    assert not store.data_path("img").exists()
    assert not list(store.staging_dir.iterdir())
    volumes = FileVolumeBackend(tmp_path / "volumes")
    await volumes.create("v", MiB)
    with pytest.raises(StorageFull, match="Cannot write volume v"):
        await volumes.write("v", pieces(os.urandom(MiB)))
