"""FileVolumeBackend.fill: a volume's file replaced by a whole, sparse copy of a raw file
(what a volume made from a raw image gets)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cinderlite.datapath.hashing import Progress
from cinderlite.storage.volumes.files import FileVolumeBackend

MiB = 1 << 20


def sparse_source(path: Path) -> bytes:
    """6 MiB: 1 MiB of data, 4 MiB hole, 1 MiB of data; returns its bytes."""
    head, tail = os.urandom(MiB), os.urandom(MiB)
    with path.open("wb") as fh:
        fh.write(head)
        fh.seek(5 * MiB)
        fh.write(tail)
    return head + bytes(4 * MiB) + tail


async def test_fill_replaces_the_volume_with_a_sparse_durable_copy(tmp_path: Path) -> None:
    backend = FileVolumeBackend(tmp_path / "volumes")
    source = tmp_path / "image"
    data = sparse_source(source)
    await backend.create("v", 64 * MiB)
    backend.path("v").write_bytes(b"garbage")  # what an earlier, interrupted fill left
    progress = Progress()
    copied = await backend.fill("v", source, 64 * MiB, progress)
    path = backend.path("v")
    assert path.stat().st_size == 64 * MiB
    with path.open("rb") as fh:
        assert fh.read(len(data)) == data
        assert fh.read() == bytes(64 * MiB - len(data))
    assert path.stat().st_blocks * 512 < 4 * MiB  # the hole and the tail stayed holes
    assert copied.method in ("reflink", "sparse")
    assert progress.done == progress.total == len(data)
    assert sorted(p.name for p in backend.root.iterdir()) == ["volume-v"]  # no .part left


async def test_fill_reads_an_open_descriptor_of_an_unlinked_file(tmp_path: Path) -> None:
    # The fill of a gzip-wrapped image reads the unpacked file through
    # /proc/self/fd/N after its name is gone.
    backend = FileVolumeBackend(tmp_path / "volumes")
    source = tmp_path / "unpacked"
    data = sparse_source(source)
    fd = os.open(source, os.O_RDONLY)
    try:
        source.unlink()
        await backend.fill("v", Path(f"/proc/self/fd/{fd}"), 8 * MiB)
    finally:
        os.close(fd)
    with backend.path("v").open("rb") as fh:
        assert fh.read(len(data)) == data


async def test_fill_refuses_a_source_larger_than_the_volume(tmp_path: Path) -> None:
    backend = FileVolumeBackend(tmp_path / "volumes")
    source = tmp_path / "image"
    sparse_source(source)
    await backend.create("v", 4 * MiB)
    with pytest.raises(ValueError, match="cannot be made"):
        await backend.fill("v", source, 4 * MiB)
    assert backend.path("v").stat().st_size == 4 * MiB  # the volume's file is untouched
    assert not list(backend.path("v").parent.glob("volume-v.part*"))
