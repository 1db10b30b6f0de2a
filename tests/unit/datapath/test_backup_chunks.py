"""datapath/backup_chunks.py: the unordered hand-out of chunks to the worker threads,
the durability thread (fdatasync), and a backup written and read back with them;
storage/backups/files.py adopt (what import_record links)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from cinderlite.datapath import backup_chunks as bc
from cinderlite.domain.errors import BackupCorrupt, StorageFull
from cinderlite.storage.backups.files import FileBackupStore

MIB = 1 << 20


def test_unordered_returns_results_in_index_order_whatever_finishes_first() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def fn(i: int) -> bc.Chunk:
        time.sleep(random.random() / 500)
        with lock:
            seen.append(i)
        return bc.Chunk(f"{i:064x}", i, 0)

    out = bc._unordered(fn, 200, 4)
    assert [c.stored for c in out] == list(range(200))
    assert sorted(seen) == list(range(200))


def test_unordered_stops_taking_work_after_a_failure() -> None:
    calls: list[int] = []

    def fn(i: int) -> bc.Chunk:
        calls.append(i)
        if i == 3:
            raise ValueError("boom")
        time.sleep(0.001)
        return bc.Chunk(None)

    with pytest.raises(ValueError, match="boom"):
        bc._unordered(fn, 10_000, 4)
    assert len(calls) < 100


def test_durability_thread_syncs_and_closes_every_fd(tmp_path: Path) -> None:
    durable = bc._Durability()
    fds = []
    for i in range(20):
        fd = bc._write_chunk_file(tmp_path / f"c{i}", b"x" * 100)
        fds.append(fd)
        durable.hand(fd)
    durable.finish()
    for fd in fds:
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)


def test_durability_failure_is_raised_as_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bc.os, "fdatasync", no_space)
    durable = bc._Durability()
    durable.hand(bc._write_chunk_file(tmp_path / "c", b"x"))
    with pytest.raises(StorageFull):
        durable.finish()


def _volume(path: Path, offsets_mib: tuple[int, ...], size_mib: int = 64) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
        for k in offsets_mib:
            fh.seek(k * MIB)
            fh.write(os.urandom(MIB // 2))


def test_backup_written_unordered_reads_back(tmp_path: Path) -> None:
    src = tmp_path / "vol"
    _volume(src, (0, 3, 17, 63))
    out = tmp_path / "b"
    out.mkdir()
    manifest = bc.write_backup(src, 64 * MIB, out, chunk_size=MIB, compression="zlib",
                               parent=None, workers=4)
    assert [i for i, c in enumerate(manifest.chunks) if c.sha256] == [0, 3, 17, 63]
    assert sorted(p.name for p in out.iterdir()) == [
        "chunk-00000000", "chunk-00000003", "chunk-00000017", "chunk-00000063",
        "metadata.json",
    ]
    target = tmp_path / "restored"
    with open(target, "wb") as fh:
        fh.truncate(64 * MIB)
    read = bc.read_manifest(out, size=64 * MIB, max_depth=0)
    bc.restore_backup(read, [out], target, fresh=True, workers=4)
    assert target.read_bytes() == src.read_bytes()


def test_a_failed_write_leaves_no_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "vol"
    _volume(src, (0, 1, 2, 3))
    out = tmp_path / "b"
    out.mkdir()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bc.os, "fdatasync", no_space)
    with pytest.raises(StorageFull):
        bc.write_backup(src, 64 * MIB, out, chunk_size=MIB, compression="zlib", parent=None,
                        workers=4)
    assert not (out / bc.MANIFEST).exists()


BID = "11111111-2222-4333-8444-555555555555"
NEW = "66666666-7777-4888-8999-000000000000"


def test_adopt_links_the_chunks_under_the_new_id(tmp_path: Path) -> None:
    store = FileBackupStore(tmp_path / "store", chunk_size=MIB, compression="zlib", workers=2)
    src = tmp_path / "vol"
    _volume(src, (1, 9), size_mib=1024)
    asyncio.run(store.write(BID, src, 1024 * MIB, parents=[]))
    # A directory left under the new name by a crash before its row is replaced.
    (tmp_path / "store" / NEW).mkdir()
    (tmp_path / "store" / NEW / "junk").write_bytes(b"x")
    assert asyncio.run(store.adopt(NEW, BID, 1024 * MIB, depth=0)) == 2
    new_dir = tmp_path / "store" / NEW
    assert sorted(p.name for p in new_dir.iterdir()) == [
        "chunk-00000001", "chunk-00000009", "metadata.json",
    ]
    assert (new_dir / "chunk-00000001").stat().st_ino == (
        tmp_path / "store" / BID / "chunk-00000001").stat().st_ino
    asyncio.run(store.discard(BID))
    target = tmp_path / "restored"
    with open(target, "wb") as fh:
        fh.truncate(1024 * MIB)
    asyncio.run(store.restore(NEW, 1024 * MIB, parents=[], target=target, fresh=True))
    with open(target, "rb") as a, open(src, "rb") as b:
        for k in (1, 9):
            a.seek(k * MIB)
            b.seek(k * MIB)
            assert a.read(MIB) == b.read(MIB)


def test_adopt_refuses_what_is_not_a_whole_backup(tmp_path: Path) -> None:
    store = FileBackupStore(tmp_path / "store", chunk_size=MIB, compression="zlib", workers=2)
    with pytest.raises(BackupCorrupt):
        asyncio.run(store.adopt(NEW, BID, 1024 * MIB, depth=0))
    src = tmp_path / "vol"
    _volume(src, (1,), size_mib=1024)
    asyncio.run(store.write(BID, src, 1024 * MIB, parents=[]))
    # The wrong size for the manifest, and a chunk file gone.
    with pytest.raises(BackupCorrupt):
        asyncio.run(store.adopt(NEW, BID, 2048 * MIB, depth=0))
    (tmp_path / "store" / BID / "chunk-00000001").unlink()
    with pytest.raises(BackupCorrupt):
        asyncio.run(store.adopt(NEW, BID, 1024 * MIB, depth=0))
    assert not (tmp_path / "store" / NEW).exists()
    assert not (tmp_path / "store" / f"{NEW}.part").exists()
    with pytest.raises(ValueError, match="not a backup id"):
        asyncio.run(store.adopt(NEW, "../etc", 1024 * MIB, depth=0))
    assert json.loads((tmp_path / "store" / BID / "metadata.json").read_bytes())["size"]
