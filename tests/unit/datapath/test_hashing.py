"""The pass-through hasher: md5 + sha512 over chunks, in order, with a size cap."""

from __future__ import annotations

import hashlib
import os

import pytest

from cinderlite.datapath.hashing import ImageHasher, hash_stream, rechunk
from cinderlite.domain.errors import TooLarge


async def agen(parts):  # type: ignore[no-untyped-def]
    for p in parts:
        yield p


def expected(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()


async def test_aupdate_and_update_agree_with_hashlib() -> None:
    parts = [os.urandom(n) for n in (10, 70000, 1 << 20, 5)]
    data = b"".join(parts)
    a, b = ImageHasher(), ImageHasher()
    for p in parts:
        await a.aupdate(p)
        b.update(p)
    for h in (a, b):
        r = h.result()
        assert (r.checksum, r.os_hash_value) == expected(data)
        assert r.size == len(data)
        assert r.os_hash_algo == "sha512"


async def test_hash_stream_passes_chunks_through() -> None:
    hasher = ImageHasher()
    out = [c async for c in hash_stream(agen([b"ab", b"cd"]), hasher)]
    assert out == [b"ab", b"cd"]
    assert hasher.result().checksum == hashlib.md5(b"abcd").hexdigest()


async def test_size_cap() -> None:
    hasher = ImageHasher(max_size=10)
    await hasher.aupdate(b"x" * 10)
    with pytest.raises(TooLarge):
        await hasher.aupdate(b"x")


async def test_rechunk_coalesces_and_keeps_bytes() -> None:
    parts = [b"a" * 3, b"b" * 4, b"c" * 10, b"d"]
    out = [c async for c in rechunk(agen(parts), size=5)]
    assert b"".join(out) == b"".join(parts)
    assert all(len(c) >= 5 for c in out[:-1])


async def test_read_ahead_keeps_order_and_reraises() -> None:
    from cinderlite.datapath.hashing import read_ahead

    parts = [bytes([i]) * 10 for i in range(20)]
    assert [c async for c in read_ahead(agen(parts), depth=3)] == parts

    async def failing():  # type: ignore[no-untyped-def]
        yield b"a"
        raise ConnectionResetError("gone")

    gen = read_ahead(failing())
    assert await gen.__anext__() == b"a"
    with pytest.raises(ConnectionResetError):
        await gen.__anext__()


async def test_read_ahead_stops_its_task_when_closed() -> None:
    import asyncio

    from cinderlite.datapath.hashing import read_ahead

    async def endless():  # type: ignore[no-untyped-def]
        while True:
            yield b"x"
            await asyncio.sleep(0)

    gen = read_ahead(endless())
    assert await gen.__anext__() == b"x"
    await gen.aclose()
    await asyncio.sleep(0)
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
