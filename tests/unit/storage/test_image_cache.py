"""The image cache directory (storage/images/cache.py): entries, queue, fills and their
removals, clean and prune, on a temporary directory."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from cinderlite.datapath.hashing import ImageHasher
from cinderlite.storage.images.cache import CacheKey, ImageCache, Pruned

IDS = [f"0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6{i}" for i in range(6)]


def key_of(data: bytes) -> CacheKey:
    hasher = ImageHasher()
    hasher.update(data)
    d = hasher.result()
    return CacheKey(len(data), d.checksum, d.os_hash_algo, d.os_hash_value)


@pytest.fixture
def cache(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = ImageCache(tmp_path / "cache")
    yield c
    c.close()


async def cached(cache: ImageCache, image_id: str, data: bytes) -> None:
    fill = await cache.begin_fill(image_id, len(data))
    assert fill is not None
    await fill.write(data)
    assert await fill.place(key_of(data))


async def test_a_placed_fill_is_an_entry_and_leaves_the_queue(cache: ImageCache) -> None:
    assert await cache.queue(IDS[0])
    assert not await cache.queue(IDS[0])
    await cached(cache, IDS[0], b"abc" * 1000)
    assert await cache.queued() == []
    [entry] = await cache.entries()
    assert (entry.image_id, entry.hits, entry.size) == (IDS[0], 0, 3000)
    assert entry.last_accessed == entry.last_modified
    # Cached: not queued again, not filled again.
    assert not await cache.queue(IDS[0])
    assert await cache.begin_fill(IDS[0], 3000) is None
    await cache.record_hit(IDS[0])
    assert (await cache.entries())[0].hits == 1


async def test_the_queue_is_oldest_first(cache: ImageCache) -> None:
    for n, image_id in enumerate(IDS[:3]):
        assert await cache.queue(image_id)
        os.utime(cache.queue_dir / image_id, (1000 - n, 1000 - n))
    assert await cache.queued() == [IDS[2], IDS[1], IDS[0]]
    assert await cache.clear_queue() == 3
    assert await cache.queued() == []


async def test_an_entry_is_served_only_for_the_data_it_was_checked_against(
    cache: ImageCache,
) -> None:
    data = b"x" * 5000
    await cached(cache, IDS[0], data)
    fd = await cache.open_entry(IDS[0], key_of(data))
    assert fd is not None
    assert os.read(fd, 10000) == data
    os.close(fd)
    # Another image of that id: not served, and the stale entry goes.
    assert await cache.open_entry(IDS[0], key_of(b"y" * 5000)) is None
    assert not await cache.is_cached(IDS[0])
    assert await cache.entries() == []


async def test_a_file_without_its_row_is_not_served(cache: ImageCache) -> None:
    data = b"z" * 100
    (cache.root / IDS[0]).write_bytes(data)
    assert await cache.entries() == []
    assert await cache.open_entry(IDS[0], key_of(data)) is None
    assert not (cache.root / IDS[0]).exists()


@pytest.mark.parametrize("removal", ["delete", "clear", "forget"])
async def test_a_removal_during_a_fill_places_nothing(cache: ImageCache, removal: str) -> None:
    data = b"q" * 4096
    fill = await cache.begin_fill(IDS[0], len(data))
    assert fill is not None
    await fill.write(data)
    if removal == "clear":
        await cache.clear()
    else:
        await getattr(cache, removal)(IDS[0])
    assert not await fill.place(key_of(data))
    assert await cache.entries() == []
    assert os.listdir(cache.incomplete_dir) == []
    # A fill that begins after the removal is placed.
    await cached(cache, IDS[0], data)
    assert [e.image_id for e in await cache.entries()] == [IDS[0]]


async def test_a_fill_that_does_not_match_goes_to_invalid(cache: ImageCache) -> None:
    fill = await cache.begin_fill(IDS[0], 3)
    assert fill is not None
    await fill.write(b"abd")
    assert not await fill.place(key_of(b"abc"))
    assert os.listdir(cache.invalid_dir) == [IDS[0]]
    assert await cache.clean(86400) == [f"invalid/{IDS[0]}"]
    assert os.listdir(cache.invalid_dir) == []


async def test_an_aborted_fill_leaves_no_incomplete_file(cache: ImageCache) -> None:
    fill = await cache.begin_fill(IDS[0], 3)
    assert fill is not None
    await fill.write(b"ab")
    fill.abort(invalid=False)
    assert os.listdir(cache.incomplete_dir) == []
    assert os.listdir(cache.invalid_dir) == []


async def test_clear_removes_entries_only(cache: ImageCache) -> None:
    await cached(cache, IDS[0], b"1")
    await cached(cache, IDS[1], b"2")
    (cache.root / "notes.txt").write_text("operator's")
    assert await cache.clear() == 2
    assert await cache.entries() == []
    assert (cache.root / "notes.txt").exists()
    assert (cache.root / "cache.db").exists()


async def test_prune_goes_by_last_access_down_to_the_maximum(cache: ImageCache) -> None:
    for image_id in IDS[:4]:
        await cached(cache, image_id, b"d" * 1000)
    for image_id in (IDS[2], IDS[0], IDS[3], IDS[1]):
        await asyncio.sleep(0.01)
        await cache.record_hit(image_id)
    assert await cache.prune(4000) == Pruned(0, 0)
    assert await cache.prune(2500) == Pruned(2, 2000)
    assert sorted(e.image_id for e in await cache.entries()) == sorted([IDS[3], IDS[1]])
    assert await cache.prune(0) == Pruned(2, 2000)
    assert await cache.entries() == []


async def test_clean_removes_stalled_incomplete_files_and_rows_without_files(
    cache: ImageCache,
) -> None:
    old = cache.incomplete_dir / IDS[0]
    old.write_bytes(b"old")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (cache.incomplete_dir / IDS[1]).write_bytes(b"new")
    await cached(cache, IDS[2], b"kept")
    await cached(cache, IDS[3], b"lost")
    (cache.root / IDS[3]).unlink()
    assert await cache.clean(3600) == [f"incomplete/{IDS[0]}"]
    assert os.listdir(cache.incomplete_dir) == [IDS[1]]
    assert [e.image_id for e in await cache.entries()] == [IDS[2]]
