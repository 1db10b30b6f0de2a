"""Several image stores (Glance multi-store): /v2/info/stores(/detail), X-Image-Meta-Store,
the image's `stores`, DELETE /v2/stores/{store_id}/{image_id}, locations and
direct_url, the volume upload into the default store, start-up recovery."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import update

from cinderlite.db.models import Image
from tests.conftest import make_settings, marked_options, wait_for
from tests.integration.image.test_image_data import OCTET, new_image, show
from tests.integration.upload.conftest import make_volume

pytestmark = pytest.mark.integration

MiB = 1 << 20
DATA = b"store me " * 100_000


def _stores(tmp_path: Path) -> dict[str, object]:
    return {
        "image_stores": (f"fast:{tmp_path / 'fast'}", f"cheap:{tmp_path / 'cheap'}",
                         f"spare:{tmp_path / 'spare'}"),
        "default_image_store": "fast",
        "image_store_descriptions": ("fast:Fast SSD store", "cheap:Slow but big"),
        "image_store_weights": ("cheap:50",),
    }


@pytest.fixture
def settings(tmp_path, database_url, request):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url, **{**_stores(tmp_path),
                                                   **marked_options(request)})


single_store = pytest.mark.settings(image_stores=(), default_image_store="",
                                    image_store_descriptions=(), image_store_weights=())


def _file(rt, store: str, image_id: str) -> Path:  # type: ignore[no-untyped-def]
    return Path(rt.image_stores.store(store).data_path(image_id))


async def _upload(client, who, *, store: str | None = None, data: bytes = DATA):  # type: ignore[no-untyped-def]
    image_id = await new_image(client, who)
    headers = {**who.headers, **OCTET}
    if store is not None:
        headers["X-Image-Meta-Store"] = store
    resp = await client.put(f"/v2/images/{image_id}/file", content=data, headers=headers)
    assert resp.status_code == 204, resp.text
    return image_id


async def _also_in(rt, image_id: str, *stores: str) -> None:  # type: ignore[no-untyped-def]
    """Put the image's data into more stores, as a copy would (file, then row)."""
    source = rt.image_stores.data_path(image_id)
    for store in stores:
        shutil.copyfile(source, _file(rt, store, image_id))
    async with rt.transaction() as db:
        row = await db.get(Image, image_id)
        recorded = ",".join([row.stores, *stores])
        await db.execute(update(Image).where(Image.id == image_id).values(stores=recorded))


# --- /v2/info/stores -----------------------------------------------------------


async def test_stores_info_lists_the_configured_stores(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/info/stores", headers=demo.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"stores": [
        {"id": "fast", "description": "Fast SSD store", "default": "true"},
        {"id": "cheap", "description": "Slow but big"},
        {"id": "spare"},
    ]}


async def test_stores_detail_is_for_admins(image_client, demo, admin, tmp_path) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/info/stores/detail", headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        "You are not authorized to complete stores_info_detail action."
    )
    resp = await image_client.get("/v2/info/stores/detail", headers=admin.headers)
    assert resp.status_code == 200, resp.text
    stores = {s["id"]: s for s in resp.json()["stores"]}
    assert list(stores) == ["fast", "cheap", "spare"]
    assert stores["fast"] == {
        "id": "fast", "description": "Fast SSD store", "default": "true", "type": "file",
        "weight": 0, "properties": {"data_dir": str(tmp_path / "fast"), "chunk_size": 4 * MiB,
                                    "thin_provisioning": True},
    }
    assert (stores["cheap"]["weight"], stores["cheap"]["type"]) == (50, "file")
    assert "default" not in stores["cheap"]


@single_store
async def test_a_single_store_site_has_no_stores_api(image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v2/info/stores", "/v2/info/stores/detail"):
        resp = await image_client.get(path, headers=admin.headers)
        assert resp.status_code == 404
        assert resp.json()["message"] == "Multi backend is not supported at this site."
    # The header is ignored, and nothing names a store, as Glance without enabled_backends.
    image_id = await _upload(image_client, demo, store="nowhere")
    img = await show(image_client, demo, image_id)
    assert img["status"] == "active"
    assert "stores" not in img
    resp = await image_client.delete(f"/v2/stores/file/{image_id}", headers=admin.headers)
    assert resp.status_code == 404


def test_store_configuration_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.storage.images.stores import parse_store_config

    bad = [
        ((f"a:{tmp_path}/a", f"a:{tmp_path}/b"), {}, "listed twice"),
        ((f"a:{tmp_path}/a", f"b:{tmp_path}/a"), {}, "share a directory"),
        ((f"os_glance_staging_store:{tmp_path}/a",), {}, "reserved"),
        (("nocolon",), {}, "expected '<store id>:<value>'"),
        ((f"a:{tmp_path}/a",), {"default": "b"}, "default_image_store: no store 'b'"),
        ((f"a:{tmp_path}/a",), {"weights": ("a:heavy",)}, "not an integer"),
        ((f"a:{tmp_path}/a",), {"descriptions": ("b:x",)}, "no store 'b'"),
    ]
    for entries, options, message in bad:
        with pytest.raises(ValueError, match=message):
            parse_store_config(entries, **{"default": "", **options})
    infos, default = parse_store_config((f"a:{tmp_path}/a", f"b:{tmp_path}/b"), default="")
    assert ([i.id for i in infos], default) == (["a", "b"], "a")


def test_a_store_may_not_take_another_directory_of_the_service(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cinderlite import app as app_module

    for taken, what in (("staging", "the import staging area"), ("volumes", "the volumes")):
        settings = make_settings(tmp_path, "", image_stores=(f"x:{tmp_path / 'data' / taken}",))
        with pytest.raises(ValueError, match=f"store 'x' is in the directory of {what}"):
            app_module.image_stores(settings)
    with pytest.raises(ValueError, match="default_image_store needs image_stores"):
        app_module.image_stores(make_settings(tmp_path, "", default_image_store="x"))


# --- uploads into a store ----------------------------------------------------


async def test_upload_goes_to_the_default_store(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo)
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "fast")
    assert _file(rt, "fast", image_id).read_bytes() == DATA
    assert not _file(rt, "cheap", image_id).exists()


async def test_upload_into_a_chosen_store(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo, store="cheap")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap")
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()
    assert _file(rt, "cheap", image_id).read_bytes() == DATA
    assert not _file(rt, "fast", image_id).exists()
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.content == DATA
    listed = await image_client.get("/v2/images", headers=demo.headers)
    assert [i["stores"] for i in listed.json()["images"] if i["id"] == image_id] == ["cheap"]


async def test_upload_into_an_unknown_store_is_400(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await image_client.put(
        f"/v2/images/{image_id}/file", content=DATA,
        headers={**demo.headers, **OCTET, "X-Image-Meta-Store": "nowhere"},
    )
    assert resp.status_code == 400
    assert resp.json()["message"] == "Store for identifier nowhere not found"
    img = await show(image_client, demo, image_id)
    assert img["status"] == "queued"
    assert "stores" not in img
    assert not any(_file(rt, s, image_id).exists() for s in ("fast", "cheap", "spare"))
    # Checked before the image is looked up, as Glance does.
    resp = await image_client.put(
        "/v2/images/00000000-0000-0000-0000-000000000000/file", content=b"x",
        headers={**demo.headers, **OCTET, "X-Image-Meta-Store": "nowhere"},
    )
    assert resp.status_code == 400


async def test_stores_and_locations_cannot_be_set(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"stores": "cheap"}, headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Attribute 'stores' is read-only."
    resp = await image_client.post("/v2/images", json={"locations": []}, headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Attribute 'locations' is reserved."
    image_id = await _upload(image_client, demo)
    patch = {**demo.headers, "Content-Type": "application/openstack-images-v2.1-json-patch"}
    resp = await image_client.patch(
        f"/v2/images/{image_id}", headers=patch,
        json=[{"op": "replace", "path": "/stores", "value": "cheap"}],
    )
    assert resp.status_code == 403
    assert resp.json()["message"] == "Attribute 'stores' is read-only."
    for op, verb in (("add", "add"), ("replace", "update"), ("remove", "remove")):
        change = {"op": op, "path": "/locations/0" if op != "replace" else "/locations"}
        if op != "remove":
            change["value"] = [] if op == "replace" else {"url": "file:///x", "metadata": {}}
        resp = await image_client.patch(f"/v2/images/{image_id}", headers=patch, json=[change])
        assert resp.status_code == 403
        assert resp.json()["message"] == (
            f"It's not allowed to {verb} locations if locations are invisible."
        )


async def test_volume_upload_writes_to_the_default_store(  # type: ignore[no-untyped-def]
    rt, volume_client, image_client, demo,
) -> None:
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MiB,
                            data=[(0, b"volume bytes")])
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vid}/action", headers=demo.headers,
        json={"os-volume_upload_image": {"image_name": "from-volume", "disk_format": "raw",
                                         "container_format": "bare"}},
    )
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]

    async def active():  # type: ignore[no-untyped-def]
        img = await show(image_client, demo, image_id)
        return img if img["status"] == "active" else None

    img = await wait_for(active)
    assert img["stores"] == "fast"
    data = _file(rt, "fast", image_id).read_bytes()
    assert data[:12] == b"volume bytes"
    assert len(data) == MiB
    assert not _file(rt, "cheap", image_id).exists()


# --- delete from a store ---------------------------------------------------------


async def test_delete_from_store(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo)
    await _also_in(rt, image_id, "cheap")
    # Listed as Glance sorts locations: the heavier store (cheap, 50) first.
    assert (await show(image_client, demo, image_id))["stores"] == "cheap,fast"
    resp = await image_client.delete(f"/v2/stores/fast/{image_id}", headers=admin.headers)
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap")
    assert not _file(rt, "fast", image_id).exists()
    # The data is read from the store that has it.
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.content == DATA
    # The last store is refused.
    resp = await image_client.delete(f"/v2/stores/cheap/{image_id}", headers=admin.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        "Cannot delete image data from the only store containing it. "
        "Consider deleting the image instead."
    )
    assert _file(rt, "cheap", image_id).read_bytes() == DATA


async def test_delete_from_store_refusals(rt, image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo)
    await _also_in(rt, image_id, "cheap")
    cases = [
        (demo, f"/v2/stores/fast/{image_id}", 403,
         "You are not authorized to complete delete_image_location action."),
        (admin, f"/v2/stores/spare/{image_id}", 404,
         f"Image {image_id} is not stored in store spare."),
        (admin, f"/v2/stores/nowhere/{image_id}", 409,
         "The selected store nowhere is not available on this node."),
        (admin, "/v2/stores/fast/00000000-0000-0000-0000-000000000000", 404,
         "Failed to find image 00000000-0000-0000-0000-000000000000"),
    ]
    for who, path, status, message in cases:
        resp = await image_client.delete(path, headers=who.headers)
        assert (resp.status_code, resp.json()["message"]) == (status, message), path
    assert (await show(image_client, demo, image_id))["stores"] == "cheap,fast"
    queued = await new_image(image_client, demo)
    resp = await image_client.delete(f"/v2/stores/fast/{queued}", headers=admin.headers)
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        "It's not allowed to remove image data from store if image status is not 'active'"
    )
    resp = await image_client.post(f"/v2/images/{image_id}/actions/deactivate",
                                   headers=admin.headers)
    assert resp.status_code == 204
    resp = await image_client.delete(f"/v2/stores/fast/{image_id}", headers=admin.headers)
    assert resp.status_code == 409


async def test_delete_image_removes_it_from_every_store(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo)
    await _also_in(rt, image_id, "cheap", "spare")
    resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
    assert resp.status_code == 204
    assert not any(_file(rt, s, image_id).exists() for s in ("fast", "cheap", "spare"))


# --- locations -----------------------------------------------------------------


@pytest.mark.settings(show_multiple_locations=True, show_image_direct_url=True)
async def test_locations_and_direct_url_when_shown(rt, image_client, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo, store="cheap")
    await _also_in(rt, image_id, "spare")
    img = await show(image_client, demo, image_id)
    assert img["locations"] == [
        {"url": f"file://{tmp_path / 'cheap' / image_id}", "metadata": {"store": "cheap"}},
        {"url": f"file://{tmp_path / 'spare' / image_id}", "metadata": {"store": "spare"}},
    ]
    assert img["direct_url"] == f"file://{tmp_path / 'cheap' / image_id}"
    queued = await show(image_client, demo, await new_image(image_client, demo))
    assert queued["locations"] == []
    assert "direct_url" not in queued
    schema = (await image_client.get("/v2/schemas/image", headers=demo.headers)).json()
    assert {"locations", "direct_url", "stores"} <= set(schema["properties"])
    patch = {**demo.headers, "Content-Type": "application/openstack-images-v2.1-json-patch"}
    resp = await image_client.patch(f"/v2/images/{image_id}", headers=patch,
                                    json=[{"op": "remove", "path": "/locations/0"}])
    assert resp.status_code == 403
    assert resp.json()["message"].startswith("It's not allowed to remove locations here")


@single_store
@pytest.mark.settings(image_stores=(), default_image_store="", image_store_descriptions=(),
                      image_store_weights=(), show_multiple_locations=True)
async def test_locations_on_a_single_store_site(rt, image_client, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    image_id = await _upload(image_client, demo)
    img = await show(image_client, demo, image_id)
    path = tmp_path / "data" / "images" / image_id
    assert img["locations"] == [{"url": f"file://{path}", "metadata": {}}]
    assert "direct_url" not in img
    assert "stores" not in img


async def test_locations_are_hidden_by_default(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    img = await show(image_client, demo, await _upload(image_client, demo))
    assert "locations" not in img
    assert "direct_url" not in img
    schema = (await image_client.get("/v2/schemas/image", headers=demo.headers)).json()
    assert "locations" not in schema["properties"]
    assert schema["properties"]["stores"]["readOnly"] is True


# --- recovery ------------------------------------------------------------------


async def test_recover_removes_data_a_row_does_not_list(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    """A delete from a store that crashed after its row changed, before the file went."""
    image_id = await _upload(image_client, demo)
    shutil.copyfile(_file(rt, "fast", image_id), _file(rt, "cheap", image_id))
    await rt.services.images.recover()
    assert not _file(rt, "cheap", image_id).exists()
    assert _file(rt, "fast", image_id).read_bytes() == DATA
    assert (await show(image_client, demo, image_id))["stores"] == "fast"


async def test_recover_records_stores_of_older_images(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    """Images written before stores were recorded get the stores holding their data."""
    image_id = await _upload(image_client, demo, store="cheap")
    shutil.copyfile(_file(rt, "cheap", image_id), _file(rt, "spare", image_id))
    async with rt.transaction() as db:
        await db.execute(update(Image).where(Image.id == image_id).values(stores=None))
    assert "stores" not in await show(image_client, demo, image_id)
    await rt.services.images.recover()
    assert (await show(image_client, demo, image_id))["stores"] == "cheap,spare"
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.content == DATA


async def test_a_broken_upload_into_a_store_leaves_nothing_there(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)

    async def broken():  # type: ignore[no-untyped-def]
        yield b"x" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await rt.services.images.upload_data(demo.caller, image_id, broken(), store_id="cheap")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img.get("stores")) == ("queued", None)
    cheap = rt.image_stores.store("cheap")
    assert await cheap.cleanup_staging() == []
    assert not _file(rt, "cheap", image_id).exists()


async def test_recover_after_a_crash_mid_upload_into_a_store(rt, image_client, demo) -> None:  # type: ignore[no-untyped-def]
    """A crash while writing into `cheap`: the row stays `saving`, a staging file
    stays in cheap's staging directory; an image deleted meanwhile left data in spare."""
    from cinderlite.db import images as images_db
    from cinderlite.domain import images as image_rules
    from cinderlite.domain.clock import utcnow

    stuck = await new_image(image_client, demo)
    gone = "6c0d5c8c-0000-4000-8000-000000000002"
    async with rt.transaction() as db:
        await images_db.transition(db, image_id=stuck, rule=image_rules.BEGIN_SAVING,
                                   now=utcnow())
    cheap_staging = rt.image_stores.store("cheap").staging_dir
    (cheap_staging / f"{stuck}.0badcafe").write_bytes(b"half")
    _file(rt, "spare", gone).write_bytes(b"orphan")
    await rt.services.images.recover()
    assert (await show(image_client, demo, stuck))["status"] == "queued"
    assert os.listdir(cheap_staging) == []
    assert not _file(rt, "spare", gone).exists()
    resp = await image_client.put(f"/v2/images/{stuck}/file", content=b"ok",
                                  headers={**demo.headers, **OCTET, "X-Image-Meta-Store": "cheap"})
    assert resp.status_code == 204
    assert (await show(image_client, demo, stuck))["stores"] == "cheap"


# --- versions and usage -------------------------------------------------------------


async def test_versions_list_what_is_served(image_client) -> None:  # type: ignore[no-untyped-def]
    """With several stores, Glance's list: 2.15 (stores detail), 2.13 to 2.8
    (stores, image tasks, usage), 2.17 (the location API) as CURRENT, then 2.7
    to 2.0; not 2.14, 2.16 and 2.18 (the image cache, listed only with one)."""
    resp = await image_client.get("/versions")
    listed = [(v["id"], v["status"]) for v in resp.json()["versions"]]
    assert listed == [
        ("v2.15", "SUPPORTED"), ("v2.13", "SUPPORTED"), ("v2.12", "SUPPORTED"),
        ("v2.11", "SUPPORTED"), ("v2.10", "SUPPORTED"), ("v2.9", "SUPPORTED"),
        ("v2.8", "SUPPORTED"), ("v2.17", "CURRENT"), ("v2.7", "SUPPORTED"),
        ("v2.6", "SUPPORTED"), ("v2.5", "SUPPORTED"), ("v2.4", "SUPPORTED"),
        ("v2.3", "SUPPORTED"), ("v2.2", "SUPPORTED"), ("v2.1", "SUPPORTED"),
        ("v2.0", "SUPPORTED"),
    ]


async def test_usage_is_empty_without_image_quotas(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/info/usage", headers=demo.headers)
    assert (resp.status_code, resp.json()) == (200, {"usage": {}})
    assert (await image_client.get("/v2/info/usage")).status_code == 401
