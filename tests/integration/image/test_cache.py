"""Glance's image cache (image_cache_dir): downloads served from and filling the
cache, the prefetcher, and the cache management API (2.14 list, queue, delete,
clear; 2.18 clean, prune) with Glance's statuses, messages and policies; and the
same paths on a site without a cache."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from tests.conftest import make_settings, make_user, wait_for
from tests.integration.image.test_image_data import new_image, put

pytestmark = pytest.mark.integration

MiB = 1 << 20
DENIED = "Access was denied to this resource."
NOT_SUPPORTED = "Caching via API is not supported at this site."


def payload(seed: int, size: int = 3 * MiB + 123) -> bytes:
    """Bytes unlike any other seed's, with a run of zeros (a hole in the entry)."""
    block = hashlib.sha512(str(seed).encode()).digest() * 2048
    data = (block * (size // len(block) + 1))[:size]
    return data[: MiB] + bytes(MiB) + data[2 * MiB:]


def cache_dir(rt) -> Path:  # type: ignore[no-untyped-def]
    return Path(rt.settings.image_cache_dir)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from tests.conftest import marked_options

    options = {"image_cache_dir": str(tmp_path / "image-cache"), **marked_options(request)}
    return make_settings(tmp_path, database_url, **options)


async def active_image(client: httpx.AsyncClient, who, data: bytes, **body) -> str:  # type: ignore[no-untyped-def]
    image_id = await new_image(client, who, **body)
    resp = await put(client, who, image_id, data)
    assert resp.status_code == 204, resp.text
    return image_id


async def cache_state(client: httpx.AsyncClient, admin) -> dict:  # type: ignore[no-untyped-def,type-arg]
    resp = await client.get("/v2/cache", headers=admin.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def entry(client: httpx.AsyncClient, admin, image_id: str) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    for item in (await cache_state(client, admin))["cached_images"]:
        if item["image_id"] == image_id:
            return item  # type: ignore[no-any-return]
    return None


async def wait_cached(client: httpx.AsyncClient, admin, image_id: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    async def cached() -> dict | None:  # type: ignore[type-arg]
        return await entry(client, admin, image_id)

    return await wait_for(cached, timeout=20)  # type: ignore[no-any-return]


async def download(client: httpx.AsyncClient, who, image_id: str, **headers: str) -> bytes:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images/{image_id}/file", headers={**who.headers, **headers})
    assert resp.status_code == 200, resp.text
    return resp.content


async def placed(rt) -> None:  # type: ignore[no-untyped-def]
    """Wait for the fills of finished downloads to be placed (or refused)."""
    async def idle() -> bool:
        return not rt.services.image_cache._placing

    await wait_for(idle, timeout=20)


# --- downloads ----------------------------------------------------------------


async def test_a_download_fills_the_cache_and_the_next_one_is_served_from_it(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    data = payload(1)
    image_id = await active_image(image_client, demo, data)
    assert await download(image_client, demo, image_id) == data
    item = await wait_cached(image_client, admin, image_id)
    assert item["size"] == len(data)
    assert item["hits"] == 0
    assert item["last_accessed"] == item["last_modified"]
    assert abs(item["last_modified"] - time.time()) < 60
    assert (cache_dir(rt) / image_id).read_bytes() == data
    assert os.listdir(cache_dir(rt) / "incomplete") == []
    # The store's copy goes: what is downloaded now can only come from the cache.
    rt.images.data_path(image_id).unlink()
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["content-type"] == "application/octet-stream"
    again = await entry(image_client, admin, image_id)
    assert again is not None
    assert again["hits"] == 1
    assert again["last_accessed"] > item["last_accessed"]


async def test_an_entry_that_does_not_match_the_image_is_not_served(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    data = payload(2)
    image_id = await active_image(image_client, demo, data)
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    # As if another image of that id had been cached (an id used again).
    (cache_dir(rt) / image_id).write_bytes(payload(3))
    with sqlite3.connect(cache_dir(rt) / "cache.db") as conn:
        conn.execute("UPDATE cached_images SET checksum = 'other' WHERE image_id = ?",
                     (image_id,))
    assert await download(image_client, demo, image_id) == data
    await placed(rt)
    assert (cache_dir(rt) / image_id).read_bytes() == data
    item = await entry(image_client, admin, image_id)
    assert item is not None
    assert item["hits"] == 0


async def test_a_deactivated_image_is_not_served_from_the_cache(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    data = payload(4)
    image_id = await active_image(image_client, demo, data)
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    resp = await image_client.post(f"/v2/images/{image_id}/actions/deactivate",
                                   headers=demo.headers)
    assert resp.status_code == 204
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.status_code == 403
    # An admin still reads it, from the store (Glance's middleware skips the cache).
    assert await download(image_client, admin, image_id) == data
    item = await entry(image_client, admin, image_id)
    assert item is not None
    assert item["hits"] == 0
    resp = await image_client.post(f"/v2/images/{image_id}/actions/reactivate",
                                   headers=demo.headers)
    assert resp.status_code == 204
    assert await download(image_client, demo, image_id) == data
    item = await entry(image_client, admin, image_id)
    assert item is not None
    assert item["hits"] == 1


async def test_range_requests_neither_read_nor_fill_the_cache(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    data = payload(5)
    image_id = await active_image(image_client, demo, data)
    await download(image_client, demo, image_id, Range="bytes=0-99")
    await download(image_client, demo, image_id, **{"Content-Range": "bytes 0-99/100"})
    await placed(rt)
    assert await entry(image_client, admin, image_id) is None
    assert os.listdir(cache_dir(rt) / "incomplete") == []
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    await download(image_client, demo, image_id, Range="bytes=0-99")
    item = await entry(image_client, admin, image_id)
    assert item is not None
    assert item["hits"] == 0


async def test_deleting_an_image_removes_its_entry_and_its_place_in_the_queue(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    image_id = await active_image(image_client, demo, payload(6))
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    (cache_dir(rt) / "queue" / image_id).touch()
    resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
    assert resp.status_code == 204
    assert await cache_state(image_client, admin) == {"cached_images": [], "queued_images": []}
    assert not (cache_dir(rt) / image_id).exists()


async def test_an_image_deleted_while_a_download_fills_its_entry_is_not_cached(  # type: ignore[no-untyped-def]
    rt, demo, admin, image_client
) -> None:
    """A removal (delete, cache-delete, clear) during a fill: the fill places nothing."""
    from cinderlite.services.image_cache import cache_key

    data = payload(7)
    image_id = await active_image(image_client, demo, data)
    image = await rt.services.images.visible(demo.caller, image_id)
    key = cache_key(image)
    cache = rt.services.image_cache._cache
    fill = await cache.begin_fill(image_id, key.size)
    assert fill is not None
    # A second writer of the same image is refused while this one writes.
    assert await cache.begin_fill(image_id, key.size) is None
    await fill.write(data)
    resp = await image_client.delete(f"/v2/cache/{image_id}", headers=admin.headers)
    assert resp.status_code == 204
    assert await fill.place(key) is False
    assert not (cache_dir(rt) / image_id).exists()
    assert os.listdir(cache_dir(rt) / "incomplete") == []


async def test_a_fill_whose_data_does_not_match_the_image_goes_to_invalid(  # type: ignore[no-untyped-def]
    rt, demo, image_client
) -> None:
    from cinderlite.services.image_cache import cache_key

    data = payload(8)
    image_id = await active_image(image_client, demo, data)
    key = cache_key(await rt.services.images.visible(demo.caller, image_id))
    fill = await rt.services.image_cache._cache.begin_fill(image_id, key.size)
    await fill.write(data[:-1] + b"!")
    assert await fill.place(key) is False
    assert not (cache_dir(rt) / image_id).exists()
    assert os.listdir(cache_dir(rt) / "invalid") == [image_id]


# --- the management API ---------------------------------------------------------


async def test_the_cache_api_is_for_admins(image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await active_image(image_client, demo, b"data")
    calls = [
        ("GET", "/v2/cache"), ("PUT", f"/v2/cache/{image_id}"),
        ("DELETE", f"/v2/cache/{image_id}"), ("DELETE", "/v2/cache"),
        ("POST", "/v2/cache/clean"), ("POST", "/v2/cache/prune"),
        ("GET", f"/v2/cache/nodes/{image_id}"),
    ]
    for method, path in calls:
        resp = await image_client.request(method, path, headers=demo.headers)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.json()["message"] == DENIED


async def test_queueing_an_image_prefetches_it(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    data = payload(9)
    image_id = await active_image(image_client, demo, data)
    resp = await image_client.put(f"/v2/cache/{image_id}", headers=admin.headers)
    assert resp.status_code == 202
    assert resp.content == b""
    item = await wait_cached(image_client, admin, image_id)
    assert item["size"] == len(data)
    assert (await cache_state(image_client, admin))["queued_images"] == []
    assert (cache_dir(rt) / image_id).read_bytes() == data
    assert os.listdir(cache_dir(rt) / "queue") == []
    # Queued again once cached: 202, nothing to do.
    resp = await image_client.put(f"/v2/cache/{image_id}", headers=admin.headers)
    assert resp.status_code == 202


async def test_queueing_refusals(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.put("/v2/cache/non-existing-image-id", headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["message"] == "Image non-existing-image-id not found."
    queued = await new_image(image_client, demo)
    resp = await image_client.put(f"/v2/cache/{queued}", headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "Only images with status active can be targeted for queueing"
    )
    # An image the caller cannot see is unknown to it, before any policy.
    private = await active_image(image_client, demo, b"data", visibility="private")
    stranger = await make_user(rt, name="stranger", project="elsewhere", roles=("member",))
    resp = await image_client.put(f"/v2/cache/{private}", headers=stranger.headers)
    assert resp.status_code == 404
    assert (await cache_state(image_client, admin))["queued_images"] == []


async def test_the_prefetcher_takes_up_the_queue_at_start(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    data = payload(10)
    image_id = await active_image(image_client, demo, data)
    gone = "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
    for queued in (image_id, gone):
        (cache_dir(rt) / "queue" / queued).touch()
    assert set((await cache_state(image_client, admin))["queued_images"]) == {image_id, gone}
    await rt.services.image_cache.start()
    await wait_cached(image_client, admin, image_id)

    async def drained() -> bool:
        return (await cache_state(image_client, admin))["queued_images"] == []

    # An image that no longer exists leaves the queue.
    await wait_for(drained, timeout=20)
    assert (cache_dir(rt) / image_id).read_bytes() == data


async def test_delete_entry(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await active_image(image_client, demo, payload(11))
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    resp = await image_client.delete(f"/v2/cache/{image_id}", headers=admin.headers)
    assert resp.status_code == 204
    assert await entry(image_client, admin, image_id) is None
    assert not (cache_dir(rt) / image_id).exists()
    # Not cached, but the image exists: 204 (Glance).
    resp = await image_client.delete(f"/v2/cache/{image_id}", headers=admin.headers)
    assert resp.status_code == 204
    resp = await image_client.delete("/v2/cache/non-existing-image-id", headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["message"] == "Image non-existing-image-id not found."
    # Queued only, for an image that is gone: found in the queue, removed.
    gone = "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"
    (cache_dir(rt) / "queue" / gone).touch()
    resp = await image_client.delete(f"/v2/cache/{gone}", headers=admin.headers)
    assert resp.status_code == 204
    assert (await cache_state(image_client, admin))["queued_images"] == []


async def test_clear_targets(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    first = await active_image(image_client, demo, payload(12))
    second = await active_image(image_client, demo, payload(13))

    async def fill_both() -> None:
        for image_id in (first, second):
            await download(image_client, demo, image_id)
            await wait_cached(image_client, admin, image_id)
            (cache_dir(rt) / "queue" / image_id).touch()

    await fill_both()
    for bad in ("both", "invalid"):
        resp = await image_client.delete(
            "/v2/cache", headers={**admin.headers, "x-image-cache-clear-target": bad}
        )
        assert resp.status_code == 400
        assert resp.json()["message"] == (
            "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."
        )
    resp = await image_client.delete(
        "/v2/cache", headers={**admin.headers, "x-image-cache-clear-target": "Queue"}
    )
    assert resp.status_code == 204
    state = await cache_state(image_client, admin)
    assert state["queued_images"] == []
    assert sorted(i["image_id"] for i in state["cached_images"]) == sorted([first, second])
    for image_id in (first, second):
        (cache_dir(rt) / "queue" / image_id).touch()
    resp = await image_client.delete(
        "/v2/cache", headers={**admin.headers, "x-image-cache-clear-target": "cache"}
    )
    assert resp.status_code == 204
    state = await cache_state(image_client, admin)
    assert state["cached_images"] == []
    assert sorted(state["queued_images"]) == sorted([first, second])
    assert not (cache_dir(rt) / first).exists()
    await image_client.delete("/v2/cache", headers={**admin.headers,
                                                    "x-image-cache-clear-target": "queue"})
    await fill_both()
    resp = await image_client.delete("/v2/cache", headers=admin.headers)
    assert resp.status_code == 204
    assert resp.content == b""
    assert await cache_state(image_client, admin) == {"cached_images": [], "queued_images": []}
    # What else lives in the directory is left alone.
    assert (cache_dir(rt) / "cache.db").exists()


async def test_cached_nodes_need_a_centralized_cache(image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await active_image(image_client, demo, b"data")
    resp = await image_client.get(f"/v2/cache/nodes/{image_id}", headers=admin.headers)
    assert resp.status_code == 409
    assert resp.json()["message"] == "Centralized caching is not enabled"


@pytest.mark.settings(image_cache_max_size=int(2.5 * (3 * MiB + 123)))
async def test_prune_removes_the_least_recently_accessed_entries(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    size = 3 * MiB + 123
    resp = await image_client.post("/v2/cache/prune", headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}
    ids = [await active_image(image_client, demo, payload(20 + i)) for i in range(4)]
    for image_id in ids:
        await download(image_client, demo, image_id)
        await wait_cached(image_client, admin, image_id)
    # Access order now: ids[2], ids[0], ids[3], ids[1] (oldest first).
    for image_id in (ids[0], ids[3], ids[1]):
        await download(image_client, demo, image_id)
    resp = await image_client.post("/v2/cache/prune", headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json() == {"total_files_pruned": 2, "total_bytes_pruned": 2 * size}
    left = sorted(i["image_id"] for i in (await cache_state(image_client, admin))["cached_images"])
    assert left == sorted([ids[3], ids[1]])
    assert not (cache_dir(rt) / ids[2]).exists()
    assert not (cache_dir(rt) / ids[0]).exists()
    resp = await image_client.post("/v2/cache/prune", headers=admin.headers)
    assert resp.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}


async def test_clean_removes_invalid_and_stalled_files(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    import fcntl

    root = cache_dir(rt)
    (root / "invalid" / "invalid-image-id").write_bytes(b"invalid cache data")
    stalled = root / "incomplete" / "stalled-image-id"
    stalled.write_bytes(b"incomplete cache data")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stalled, (two_days_ago, two_days_ago))
    recent = root / "incomplete" / "recent-image-id"
    recent.write_bytes(b"recent incomplete data")
    # An old fill a live writer still holds is its writer's to end.
    held = root / "incomplete" / "held-image-id"
    held.write_bytes(b"slow")
    os.utime(held, (two_days_ago, two_days_ago))
    # Placed by a crash that lost its row: never served, removed.
    orphan = await active_image(image_client, demo, b"orphan")
    (root / orphan).write_bytes(b"orphan")
    # The entry of an image deleted through another node.
    image_id = await active_image(image_client, demo, payload(30))
    await download(image_client, demo, image_id)
    await wait_cached(image_client, admin, image_id)
    await rt.run_in_transaction(lambda s: s.execute(
        sqlalchemy.text("DELETE FROM images WHERE id = :id"), {"id": image_id}
    ))
    fd = os.open(held, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        resp = await image_client.post("/v2/cache/clean", headers=admin.headers)
    finally:
        os.close(fd)
    assert resp.status_code == 200
    assert resp.content == b""
    assert os.listdir(root / "invalid") == []
    assert sorted(os.listdir(root / "incomplete")) == ["held-image-id", "recent-image-id"]
    assert not (root / orphan).exists()
    assert await download(image_client, demo, orphan) == b"orphan"
    assert not (root / image_id).exists()
    assert await entry(image_client, admin, image_id) is None


# --- without a cache ------------------------------------------------------------


class TestWithoutACache:
    @pytest.fixture
    def settings(self, tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
        return make_settings(tmp_path, database_url)

    async def test_the_cache_paths_answer_as_glance_without_a_cache(  # type: ignore[no-untyped-def]
        self, image_client, demo, admin
    ) -> None:
        image_id = await active_image(image_client, demo, b"data")
        for method, path, headers in [
            ("GET", "/v2/cache", {}), ("PUT", f"/v2/cache/{image_id}", {}),
            ("DELETE", f"/v2/cache/{image_id}", {}), ("DELETE", "/v2/cache", {}),
            ("DELETE", "/v2/cache", {"x-image-cache-clear-target": "both"}),
            ("POST", "/v2/cache/clean", {}), ("POST", "/v2/cache/prune", {}),
            ("GET", f"/v2/cache/nodes/{image_id}", {}),
        ]:
            resp = await image_client.request(method, path, headers={**admin.headers, **headers})
            assert resp.status_code == 404, (method, path)
            assert resp.json()["message"] == NOT_SUPPORTED
            resp = await image_client.request(method, path, headers={**demo.headers, **headers})
            assert resp.status_code == 403, (method, path)
        for method in ("PUT", "DELETE"):
            resp = await image_client.request(method, "/v2/cache/non-existing-image-id",
                                              headers=admin.headers)
            assert resp.status_code == 404
            assert resp.json()["message"] == "Image non-existing-image-id not found."

    async def test_versions_list_2_17_as_current(self, image_client) -> None:  # type: ignore[no-untyped-def]
        ids = [(v["id"], v["status"]) for v in (await image_client.get("/versions")).json()[
            "versions"]]
        assert ids[0] == ("v2.15", "SUPPORTED")
        assert ("v2.17", "CURRENT") in ids
        assert not {"v2.14", "v2.16", "v2.18"} & {v for v, _ in ids}


async def test_versions_with_a_cache_list_2_18_as_current(image_client) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/versions")
    assert resp.status_code == 200
    ids = [(v["id"], v["status"]) for v in resp.json()["versions"]]
    assert ids == [
        ("v2.18", "CURRENT"), ("v2.17", "SUPPORTED"), ("v2.16", "SUPPORTED"),
        ("v2.15", "SUPPORTED"), ("v2.14", "SUPPORTED"), ("v2.13", "SUPPORTED"),
        ("v2.12", "SUPPORTED"), ("v2.11", "SUPPORTED"), ("v2.9", "SUPPORTED"),
        ("v2.7", "SUPPORTED"), ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"),
        ("v2.4", "SUPPORTED"), ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"),
        ("v2.1", "SUPPORTED"), ("v2.0", "SUPPORTED"),
    ]
    assert (await image_client.get("/")).status_code == 300


@pytest.mark.parametrize("bad", [
    {"image_cache_max_size": -1}, {"image_cache_stall_time": -1},
])
async def test_negative_cache_settings_are_refused(tmp_path, database_url, bad) -> None:  # type: ignore[no-untyped-def]
    from cinderlite import app as app_module

    settings = make_settings(tmp_path, database_url, image_cache_dir=str(tmp_path / "c"), **bad)
    with pytest.raises(ValueError, match="must not be negative"):
        async with app_module.open_runtime(settings, run_migrations=False):
            pass


async def test_a_cache_dir_that_is_another_directory_of_the_service_is_refused(  # type: ignore[no-untyped-def]
    tmp_path, database_url
) -> None:
    from cinderlite import app as app_module

    settings = make_settings(tmp_path, database_url)
    for where in (settings.data_dir, settings.images_dir, settings.volumes_dir):
        bad = make_settings(tmp_path, database_url, image_cache_dir=str(where))
        with pytest.raises(ValueError, match="a directory of its own"):
            async with app_module.open_runtime(bad, run_migrations=False):
                pass


async def test_downloads_at_once_fill_one_entry(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    data = payload(40)
    image_id = await active_image(image_client, demo, data)
    got = await asyncio.gather(*(download(image_client, demo, image_id) for _ in range(6)))
    assert all(d == data for d in got)
    await placed(rt)
    await wait_cached(image_client, admin, image_id)
    assert (cache_dir(rt) / image_id).read_bytes() == data
    assert os.listdir(cache_dir(rt) / "incomplete") == []
    assert os.listdir(cache_dir(rt) / "invalid") == []


async def test_an_empty_image_is_cached_and_served(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await active_image(image_client, demo, b"")
    assert await download(image_client, demo, image_id) == b""
    item = await wait_cached(image_client, admin, image_id)
    assert item["size"] == 0
    assert await download(image_client, demo, image_id) == b""
    item = await entry(image_client, admin, image_id)
    assert item is not None
    assert item["hits"] == 1


async def test_a_cache_that_fails_leaves_the_download_to_the_store(  # type: ignore[no-untyped-def]
    image_client, demo, admin, rt
) -> None:
    data = payload(41)
    image_id = await active_image(image_client, demo, data)
    # Something the cache can neither read, remove nor replace.
    (cache_dir(rt) / image_id).mkdir()
    (cache_dir(rt) / image_id / "x").write_bytes(b"x")
    assert await download(image_client, demo, image_id) == data
    await placed(rt)
    assert await download(image_client, demo, image_id) == data
    assert await entry(image_client, admin, image_id) is None
