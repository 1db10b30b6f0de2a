"""Imports into several stores (Glance 2.9: `stores`, `all_stores`,
`all_stores_must_succeed`, X-Image-Meta-Store) and copy-image (2.10): the data in
each store, os_glance_importing_to_stores / os_glance_failed_import, refusals, and a
store that fills up (a small ext4 the test mounts)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings, marked_options, wait_for
from tests.integration.conftest import free_bytes
from tests.integration.image.test_image_data import OCTET, new_image, show
from tests.integration.image.test_import import (
    download,
    ended_task,
    image_tasks,
    settled,
    stage,
    start_import,
)
from tests.webserver import WebServer, running

pytestmark = pytest.mark.integration

MiB = 1 << 20
DATA = b"imported " * 200_000
STORES = ("fast", "cheap", "small")


@pytest.fixture
def web() -> Iterator[WebServer]:
    with running() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, web: WebServer, small_filesystem, request):  # type: ignore[no-untyped-def]
    small_filesystem(tmp_path / "small", 48)
    options = {
        "image_stores": tuple(f"{s}:{tmp_path / s}" for s in STORES),
        "default_image_store": "fast",
        "image_store_weights": ("cheap:50",),
        "import_allowed_hosts": ("127.0.0.1",),
        "import_allowed_ports": (str(web.port),),
        **marked_options(request),
    }
    return make_settings(tmp_path, database_url, **options)


def _file(rt, store: str, image_id: str) -> Path:  # type: ignore[no-untyped-def]
    return Path(rt.image_stores.store(store).data_path(image_id))


def _held(rt, image_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [s for s in STORES if _file(rt, s, image_id).exists()]


async def _active(client, who, data: bytes = DATA, store: str = "fast") -> str:  # type: ignore[no-untyped-def]
    image_id = await new_image(client, who)
    resp = await client.put(f"/v2/images/{image_id}/file", content=data,
                            headers={**who.headers, **OCTET, "X-Image-Meta-Store": store})
    assert resp.status_code == 204, resp.text
    return image_id


async def _copied(client, who, image_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The image once its copy ended: its copy task (the admin's, who asked for
    it) ended and os_glance_importing_to_stores empty."""
    async def done():  # type: ignore[no-untyped-def]
        img = await show(client, who, image_id)
        return None if img.get("os_glance_importing_to_stores") else img

    await ended_task(client, who, image_id)
    return await wait_for(done)


async def test_import_info_offers_copy_image(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/info/import", headers=demo.headers)
    assert resp.json()["import-methods"]["value"] == ["glance-direct", "web-download",
                                                      "copy-image"]
    resp = await image_client.post("/v2/images", json={"name": "x"}, headers=demo.headers)
    assert resp.headers["OpenStack-image-import-methods"] == (
        "glance-direct,web-download,copy-image"
    )


# --- glance-direct and web-download into chosen stores ---------------------------


async def test_glance_direct_into_named_stores(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    assert (await stage(image_client, demo, image_id, DATA)).status_code == 204
    resp = await start_import(image_client, demo, image_id, "glance-direct",
                              stores=["small", "cheap"])
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "active"
    assert img["stores"] == "cheap,small"  # the heavier store first
    assert img["os_glance_importing_to_stores"] == ""
    assert img["os_glance_failed_import"] == ""
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()
    assert _held(rt, image_id) == ["cheap", "small"]
    assert _file(rt, "small", image_id).read_bytes() == DATA
    assert await download(image_client, demo, image_id) == DATA
    assert (await ended_task(image_client, demo, image_id))["status"] == "success"


async def test_web_download_into_all_stores(rt, image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    web.serve("/disk.raw", DATA)
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download",
                              uri=web.url("/disk.raw"), all_stores=True)
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "active"
    assert sorted(img["stores"].split(",")) == sorted(STORES)
    assert _held(rt, image_id) == list(STORES)


async def test_import_into_the_store_a_header_names(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, DATA)
    resp = await image_client.post(
        f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}},
        headers={**demo.headers, "X-Image-Meta-Store": "cheap"},
    )
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap")
    assert _held(rt, image_id) == ["cheap"]
    # Without a store named: the default one.
    other = await new_image(image_client, demo)
    await stage(image_client, demo, other, DATA)
    await start_import(image_client, demo, other, "glance-direct")
    assert (await settled(image_client, demo, other))["stores"] == "fast"


async def test_import_store_refusals(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, DATA)
    cases = [
        ({"stores": ["fast", "nowhere"]}, {}, 409, "Store for identifier nowhere not found"),
        ({}, {"X-Image-Meta-Store": "nowhere"}, 409, "Store for identifier nowhere not found"),
        ({"all_stores": True, "stores": ["fast"]}, {}, 400,
         "All_stores parameter can't be used with x-image-meta-store header or stores "
         "parameter"),
        ({"all_stores": True}, {"X-Image-Meta-Store": "fast"}, 400,
         "All_stores parameter can't be used with x-image-meta-store header or stores "
         "parameter"),
        ({"stores": ["fast"]}, {"X-Image-Meta-Store": "fast"}, 400,
         "Stores parameter and x-image-meta-store header can't be both specified"),
        ({"stores": "fast"}, {}, 400, "'stores' must be a list of store identifiers."),
        ({"stores": []}, {}, 400, "'stores' must be a list of store identifiers."),
    ]
    for extra, headers, status, message in cases:
        resp = await image_client.post(
            f"/v2/images/{image_id}/import",
            json={"method": {"name": "glance-direct"}, **extra},
            headers={**demo.headers, **headers},
        )
        assert (resp.status_code, resp.json()["message"]) == (status, message), extra
    img = await show(image_client, demo, image_id)
    assert img["status"] == "uploading"
    assert await image_tasks(image_client, demo, image_id) == []


async def test_a_full_store_fails_the_import_when_all_must_succeed(  # type: ignore[no-untyped-def]
    rt, image_client, demo, tmp_path,
) -> None:
    big = os.urandom(free_bytes(tmp_path / "small") + 4 * MiB)
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, big)
    resp = await start_import(image_client, demo, image_id, "glance-direct",
                              stores=["cheap", "small"])
    assert resp.status_code == 202
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "queued"
    assert img["os_glance_failed_import"] == "small"
    assert img["os_glance_importing_to_stores"] == ""
    task = await ended_task(image_client, demo, image_id)
    assert task["status"] == "failure"
    assert task["message"].startswith("Image storage media is full")
    # What the import wrote into cheap went with it; nothing is left in small.
    assert _held(rt, image_id) == []
    assert not any((tmp_path / "small" / ".staging").iterdir())


async def test_a_full_store_is_skipped_when_not_all_must_succeed(  # type: ignore[no-untyped-def]
    rt, image_client, demo, tmp_path,
) -> None:
    big = os.urandom(free_bytes(tmp_path / "small") + 4 * MiB)
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, big)
    resp = await start_import(image_client, demo, image_id, "glance-direct",
                              stores=["small", "cheap"], all_stores_must_succeed=False)
    assert resp.status_code == 202
    img = await settled(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap")
    assert img["os_glance_failed_import"] == "small"
    assert img["os_glance_importing_to_stores"] == ""
    assert (await ended_task(image_client, demo, image_id))["status"] == "success"
    assert _held(rt, image_id) == ["cheap"]
    assert _file(rt, "cheap", image_id).read_bytes() == big


# --- copy-image ------------------------------------------------------------------


async def test_copy_image_into_another_store(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await _active(image_client, demo)
    before = await show(image_client, demo, image_id)
    resp = await start_import(image_client, admin, image_id, "copy-image", stores=["small"])
    assert resp.status_code == 202, resp.text
    img = await _copied(image_client, admin, image_id)
    assert img["status"] == "active"
    assert img["stores"] == "fast,small"
    assert img["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in img
    for key in ("checksum", "os_hash_value", "size", "virtual_size"):
        assert img[key] == before[key]
    assert _file(rt, "small", image_id).read_bytes() == DATA
    tasks = await image_tasks(image_client, admin, image_id)
    assert tasks[-1]["status"] == "success"
    # Now the data can leave the first store; it is read from the copy.
    resp = await image_client.delete(f"/v2/stores/fast/{image_id}", headers=admin.headers)
    assert resp.status_code == 204, resp.text
    assert (await show(image_client, demo, image_id))["stores"] == "small"
    assert _held(rt, image_id) == ["small"]
    assert await download(image_client, demo, image_id) == DATA


async def test_copy_image_to_all_stores(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await _active(image_client, demo, store="cheap")
    resp = await start_import(image_client, admin, image_id, "copy-image", all_stores=True)
    assert resp.status_code == 202, resp.text
    img = await _copied(image_client, admin, image_id)
    assert img["stores"] == "cheap,fast,small"
    assert _held(rt, image_id) == list(STORES)
    tasks = await image_tasks(image_client, admin, image_id)
    # In every store already: accepted, and no task is made (Glance returns early).
    resp = await start_import(image_client, admin, image_id, "copy-image", all_stores=True)
    assert resp.status_code == 202
    assert len(await image_tasks(image_client, admin, image_id)) == len(tasks)


async def test_copy_image_refusals(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await _active(image_client, demo)
    queued = await new_image(image_client, demo)
    cases = [
        (demo, image_id, {"stores": ["cheap"]}, 403,
         "You are not authorized to complete copy_image action."),
        (admin, image_id, {"stores": ["fast"]}, 400, "Image is already present at store 'fast'"),
        (admin, image_id, {"stores": ["nowhere"]}, 409, "Store for identifier nowhere not found"),
        (admin, queued, {"stores": ["cheap"]}, 409,
         "Only images with status active can be targeted for copying"),
    ]
    for who, target, extra, status, message in cases:
        resp = await start_import(image_client, who, target, "copy-image", **extra)
        assert (resp.status_code, resp.json()["message"]) == (status, message), extra
    img = await show(image_client, demo, image_id)
    assert img["stores"] == "fast"
    assert "os_glance_importing_to_stores" not in img
    assert _held(rt, image_id) == ["fast"]
    # glance-direct and web-download are not for active images.
    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 409
    assert resp.json()["message"] == "Image with status active cannot be target for import"


async def test_a_failed_copy_leaves_the_image_as_it_was(  # type: ignore[no-untyped-def]
    rt, image_client, demo, admin, tmp_path,
) -> None:
    big = os.urandom(free_bytes(tmp_path / "small") + 4 * MiB)
    image_id = await _active(image_client, demo, data=big)
    resp = await start_import(image_client, admin, image_id, "copy-image",
                              stores=["cheap", "small"])
    assert resp.status_code == 202
    img = await _copied(image_client, admin, image_id)
    assert (img["status"], img["stores"]) == ("active", "fast")
    assert img["os_glance_failed_import"] == "small"
    task = (await image_tasks(image_client, admin, image_id))[-1]
    assert task["status"] == "failure"
    # The copy into cheap, made by the failed task, was removed; the source stays.
    assert _held(rt, image_id) == ["fast"]
    assert await download(image_client, demo, image_id) == big
    # The lock is gone: another copy may run, and skipping the full store succeeds.
    resp = await start_import(image_client, admin, image_id, "copy-image",
                              stores=["small", "cheap"], all_stores_must_succeed=False)
    assert resp.status_code == 202, resp.text
    await wait_for(lambda: _last_task_ended(image_client, admin, image_id, 2))
    img = await _copied(image_client, admin, image_id)
    assert img["stores"] == "cheap,fast"
    assert img["os_glance_failed_import"] == "small"
    assert _held(rt, image_id) == ["fast", "cheap"]


async def _last_task_ended(client, who, image_id: str, count: int):  # type: ignore[no-untyped-def]
    tasks = await image_tasks(client, who, image_id)
    return len(tasks) >= count and tasks[-1]["status"] in ("success", "failure")


# --- crashes ---------------------------------------------------------------------


async def _copy_left_by_a_crash(rt, image_client, demo, admin) -> str:  # type: ignore[no-untyped-def]
    """A copy into cheap accepted while no runner runs (its job stays queued), and
    what a crash of its run leaves: a copy committed into cheap but not recorded,
    and a partial staging file there."""
    image_id = await _active(image_client, demo)
    await rt.jobs.stop()
    resp = await start_import(image_client, admin, image_id, "copy-image", stores=["cheap"])
    assert resp.status_code == 202, resp.text
    _file(rt, "cheap", image_id).write_bytes(b"a copy nobody recorded")
    staging = rt.image_stores.store("cheap").staging_dir
    (staging / f"{image_id}.0badcafe").write_bytes(b"half")
    img = await show(image_client, demo, image_id)
    assert (img["stores"], img["os_glance_importing_to_stores"]) == ("fast", "cheap")
    return image_id


async def test_a_copy_interrupted_by_a_crash_is_redone(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    from cinderlite import app as app_module

    image_id = await _copy_left_by_a_crash(rt, image_client, demo, admin)
    await app_module.recover(rt)
    assert os.listdir(rt.image_stores.store("cheap").staging_dir) == []
    await rt.jobs.start()
    img = await _copied(image_client, admin, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap,fast")
    assert _file(rt, "cheap", image_id).read_bytes() == DATA
    assert (await image_tasks(image_client, admin, image_id))[-1]["status"] == "success"


async def test_a_copy_whose_job_is_gone_is_undone(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from cinderlite import app as app_module
    from cinderlite.db.models import Job

    image_id = await _copy_left_by_a_crash(rt, image_client, demo, admin)
    async with rt.transaction() as db:
        await db.execute(delete(Job).where(Job.image_id == image_id))
    await app_module.recover(rt)
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "fast")
    assert img["os_glance_importing_to_stores"] == ""
    assert img["os_glance_failed_import"] == "cheap"
    assert "os_glance_import_task" not in img
    assert _held(rt, image_id) == ["fast"]
    task = (await image_tasks(image_client, admin, image_id))[-1]
    assert task["status"] == "failure"
    await rt.jobs.start()
    # The lock is free again.
    resp = await start_import(image_client, admin, image_id, "copy-image", stores=["cheap"])
    assert resp.status_code == 202, resp.text
    assert (await _copied(image_client, admin, image_id))["stores"] == "cheap,fast"
