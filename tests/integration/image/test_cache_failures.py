"""The image cache when things go wrong, over a real socket and real processes: a
client that goes away mid-download, a cache disk that fills up mid-fill (a small
ext4 the test mounts), no room for an image at all, and a writer killed mid-fill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cinderlite.storage.images.cache import ImageCache
from tests.conftest import make_settings, wait_for
from tests.integration.conftest import free_bytes
from tests.integration.image.test_cache import active_image, cache_dir, cache_state, payload
from tests.integration.test_slow_clients import serving

pytestmark = pytest.mark.integration

MiB = 1 << 20
BIG = 40 * MiB


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url, image_cache_dir=str(tmp_path / "image-cache"))


async def open_download(port: int, token: str, image_id: str) -> tuple[
    asyncio.StreamReader, asyncio.StreamWriter, socket.socket
]:
    """A GET of the image's data on a socket with a small receive buffer (so the
    server cannot run far ahead of what the test reads), its headers read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return reader, writer, sock


async def test_a_client_that_goes_away_leaves_the_fill_in_invalid(  # type: ignore[no-untyped-def]
    rt, demo, admin, image_client
) -> None:
    image_id = await active_image(image_client, demo, payload(50, BIG))
    async with serving(rt, "image") as port:
        reader, writer, sock = await open_download(port, demo.token, image_id)
        await reader.readexactly(MiB)
        assert os.listdir(cache_dir(rt) / "incomplete") == [image_id]
        # An abortive close (RST), as a client killed mid-download.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

        async def rolled_back() -> bool:
            return os.listdir(cache_dir(rt) / "invalid") == [image_id]

        await wait_for(rolled_back, timeout=20)
    assert os.listdir(cache_dir(rt) / "incomplete") == []
    assert (await cache_state(image_client, admin))["cached_images"] == []
    resp = await image_client.post("/v2/cache/clean", headers=admin.headers)
    assert resp.status_code == 200
    assert os.listdir(cache_dir(rt) / "invalid") == []


class TestFullCacheDisk:
    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str, small_filesystem):  # type: ignore[no-untyped-def]
        where = small_filesystem(tmp_path / "cache-fs", 64)
        return make_settings(tmp_path, database_url, image_cache_dir=str(where / "cache"))

    async def test_a_disk_that_fills_up_mid_fill_ends_the_fill_not_the_download(  # type: ignore[no-untyped-def]
        self, rt, demo, admin, image_client
    ) -> None:
        data = payload(51, BIG)
        image_id = await active_image(image_client, demo, data)
        ballast = cache_dir(rt).parent / "ballast"
        async with serving(rt, "image") as port:
            reader, writer, _ = await open_download(port, demo.token, image_id)
            first = await reader.readexactly(MiB)
            # The fill has begun (its first chunk is out): now the disk fills up.
            await asyncio.to_thread(fill_up, ballast)
            rest = await reader.read()
            writer.close()
        assert first + rest == data
        await wait_for(lambda: _idle(rt), timeout=20)
        assert (await cache_state(image_client, admin))["cached_images"] == []
        assert os.listdir(cache_dir(rt) / "incomplete") == []
        assert os.listdir(cache_dir(rt) / "invalid") == []
        assert not (cache_dir(rt) / image_id).exists()
        ballast.unlink()
        # With room again, the next download fills the cache.
        resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
        assert resp.content == data

        async def cached() -> bool:
            state = await cache_state(image_client, admin)
            return [i["image_id"] for i in state["cached_images"]] == [image_id]

        await wait_for(cached, timeout=20)
        assert (cache_dir(rt) / image_id).read_bytes() == data

    async def test_no_room_for_the_image_means_no_fill(  # type: ignore[no-untyped-def]
        self, rt, demo, admin, image_client
    ) -> None:
        size = free_bytes(cache_dir(rt)) + MiB
        data = payload(52, size)
        image_id = await active_image(image_client, demo, data)
        resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
        assert resp.status_code == 200
        assert resp.content == data
        await wait_for(lambda: _idle(rt), timeout=20)
        assert (await cache_state(image_client, admin))["cached_images"] == []
        assert os.listdir(cache_dir(rt) / "incomplete") == []


async def _idle(rt) -> bool:  # type: ignore[no-untyped-def]
    return not rt.services.image_cache._placing


def fill_up(path: Path) -> None:
    block = b"\xff" * MiB
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError:
                break
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_WRITER = """
import asyncio, sys
from pathlib import Path
from cinderlite.storage.images.cache import ImageCache

async def main():
    cache = ImageCache(Path(sys.argv[1]))
    fill = await cache.begin_fill(sys.argv[2], 8 << 20)
    await fill.write(b"x" * (1 << 20))
    print("writing", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def start_writer(root: Path, image_id: str) -> subprocess.Popen[bytes]:
    """A process that begins a fill of `image_id`, writes 1 MiB, says so, and waits."""
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), image_id], stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


async def test_a_writer_killed_mid_fill_leaves_only_an_unlocked_incomplete_file(  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    image_id = "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
    proc = start_writer(root, image_id)
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line == b"writing\n"
        cache = ImageCache(root)
        assert cache._is_being_filled(image_id)
        assert await cache.begin_fill(image_id, MiB) is None  # its writer holds it
        assert await cache.clean(0) == []  # a live writer's file is its own
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert os.listdir(root / "incomplete") == [image_id]
    assert not cache._is_being_filled(image_id)
    assert await cache.entries() == []
    assert not await cache.is_cached(image_id)
    # Younger than the stall time: kept; older (a stall time of 0): removed.
    assert await cache.clean(3600) == []
    assert await cache.clean(0) == [f"incomplete/{image_id}"]
    assert os.listdir(root / "incomplete") == []
    cache.close()


async def test_a_fill_takes_over_what_a_killed_writer_left(tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.datapath.hashing import ImageHasher
    from cinderlite.storage.images.cache import CacheKey

    root = tmp_path / "cache"
    image_id = "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
    proc = start_writer(root, image_id)
    assert proc.stdout is not None
    assert await asyncio.to_thread(proc.stdout.readline) == b"writing\n"
    proc.kill()
    proc.wait(timeout=10)
    cache = ImageCache(root)
    data = b"y" * 1000
    hasher = ImageHasher()
    hasher.update(data)
    digest = hasher.result()
    key = CacheKey(len(data), digest.checksum, digest.os_hash_algo, digest.os_hash_value)
    fill = await cache.begin_fill(image_id, len(data))
    assert fill is not None
    await fill.write(data)
    assert await fill.place(key)
    assert (root / image_id).read_bytes() == data
    assert os.listdir(root / "incomplete") == []
    fd = await cache.open_entry(image_id, key)
    assert fd is not None
    os.close(fd)
    cache.close()
