"""os-volume_upload_image over HTTP: /v2 (the original contract, docs/api-v2.md) and
/v3 (modern Cinder)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from cinderlite import app as app_module
from tests.conftest import make_settings, wait_for
from tests.integration.upload.conftest import image_row, make_volume, volume_status

pytestmark = pytest.mark.integration

ACTION = "os-volume_upload_image"
SEED_KEYS = {
    "container_format",
    "disk_format",
    "display_description",
    "id",
    "image_id",
    "image_name",
    "size",
    "status",
    "updated_at",
    "volume_type",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url, enable_force_upload=False)


def mv(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


async def post_action(client, who, volume_id, body, *, api="v3", version=None):  # type: ignore[no-untyped-def]
    headers = dict(who.headers)
    if version:
        headers.update(mv(version))
    return await client.post(
        f"/{api}/{who.project_id}/volumes/{volume_id}/action",
        json={ACTION: body},
        headers=headers,
    )


async def small_volume(rt, who, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("file_bytes", 1 << 20)
    kw.setdefault("data", [(0, b"hello")])
    return await make_volume(rt, project_id=who.project_id, **kw)


async def test_seed_execution_example_gets_seed_shaped_202(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    raw = (
        '{"os-volume_upload_image": {"container_format": "bare", "force": false, '
        '"image_name": "testupdateimage", "disk_format": "raw"}}'
    )
    resp = await volume_client.post(
        f"/v2/{demo.project_id}/volumes/{vid}/action",
        content=raw,
        headers={
            **demo.headers,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Auth-Project-Id": "demo",
        },
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()[ACTION]
    assert set(body) == SEED_KEYS
    assert body["status"] == "uploading"
    assert body["image_name"] == "testupdateimage"
    assert body["volume_type"] is None
    assert body["size"] == 1
    assert body["id"] == vid
    assert body["display_description"] is None
    assert (body["container_format"], body["disk_format"]) == ("bare", "raw")
    assert STAMP.match(body["updated_at"])
    image = await image_row(rt, body["image_id"])
    assert image is not None
    assert image.owner == demo.project_id
    assert image.visibility == "shared"


async def test_v3_body_has_protected_and_visibility_at_3_0(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(volume_client, demo, vid, {"image_name": "a"})
    assert resp.status_code == 202, resp.text
    body = resp.json()[ACTION]
    assert set(body) == SEED_KEYS | {"protected", "visibility"}
    assert body["visibility"] == "shared"
    assert body["protected"] is False


async def test_v3_volume_type_is_an_object(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes",
        json={"volume": {"size": 1, "name": "typed"}},
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    vid = resp.json()["volume"]["id"]

    async def available():  # type: ignore[no-untyped-def]
        return await volume_status(rt, vid) == "available"

    await wait_for(available)
    resp = await post_action(volume_client, demo, vid, {"image_name": "t"}, version="3.1")
    assert resp.status_code == 202, resp.text
    vt = resp.json()[ACTION]["volume_type"]
    assert {
        "id",
        "name",
        "description",
        "is_public",
        "extra_specs",
        "qos_specs_id",
        "created_at",
        "updated_at",
        "deleted",
        "deleted_at",
    } <= set(vt)
    # Cinder stamps both when it makes the default type.
    assert STAMP.match(vt["created_at"]), vt
    assert STAMP.match(vt["updated_at"] or ""), vt
    resp = await post_action(volume_client, demo, vid, {"image_name": "t"}, api="v2")
    assert resp.status_code == 400  # already uploading


async def test_visibility_defaults_private_from_3_1(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(
        volume_client, demo, vid, {"image_name": "a", "protected": "yes"}, version="3.1"
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()[ACTION]
    assert body["visibility"] == "private"
    assert body["protected"] is True
    image = await image_row(rt, body["image_id"])
    assert image.visibility == "private"
    assert image.protected is True


async def test_public_upload_needs_admin(
    rt: app_module.Runtime, demo, admin, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    body = {"image_name": "a", "visibility": "public"}
    resp = await post_action(volume_client, demo, vid, body, version="3.1")
    assert resp.status_code == 403
    assert resp.json() == {
        "forbidden": {
            "code": 403,
            "message": (
                "Policy doesn't allow volume_extension:volume_actions:upload_public "
                "to be performed."
            ),
        }
    }
    assert await volume_status(rt, vid) == "available"
    avid = await small_volume(rt, admin)
    resp = await post_action(volume_client, admin, avid, body, version="3.1")
    assert resp.status_code == 202, resp.text


async def test_reader_cannot_upload(
    rt: app_module.Runtime, demo, reader, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(volume_client, reader, vid, {"image_name": "a"})
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["message"] == (
        "Policy doesn't allow volume_extension:volume_actions:upload_image to be performed."
    )


async def test_volume_of_other_project_is_not_found(
    rt: app_module.Runtime, demo, admin, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, admin)
    resp = await post_action(volume_client, demo, vid, {"image_name": "a"})
    assert resp.status_code == 404
    assert resp.json() == {
        "itemNotFound": {"code": 404, "message": f"Volume {vid} could not be found."}
    }


V30_ERRORS = [
    (
        {},
        "Invalid input for field/attribute os-volume_upload_image. Value: {}. "
        "'image_name' is a required property",
    ),
    (
        {"image_name": ""},
        "Invalid input for field/attribute image_name. Value: . '' should be non-empty",
    ),
    (
        {"image_name": None},
        "Invalid input for field/attribute image_name. Value: None. None is not of type 'string'",
    ),
    (
        {"image_name": "a", "disk_format": "iso"},
        "Invalid input for field/attribute disk_format. Value: iso. 'iso' is not one of "
        "['raw', 'vmdk', 'vdi', 'qcow2', 'vhd', 'vhdx', 'ploop']",
    ),
    (
        {"image_name": "a", "force": 1},
        "Invalid input for field/attribute force. Value: 1. 1 is not of type 'boolean', 'string'",
    ),
    (
        {"image_name": "a", "container_format": 5},
        "Invalid input for field/attribute container_format. Value: 5. "
        "5 is not of type 'string', 'null'",
    ),
    (
        {"image_name": "a", "visibility": "public"},
        "Invalid input for field/attribute os-volume_upload_image. Value: "
        "{'image_name': 'a', 'visibility': 'public'}. Additional properties are not allowed "
        "('visibility' was unexpected)",
    ),
    (
        "abc",
        "Invalid input for field/attribute os-volume_upload_image. Value: abc. "
        "'abc' is not of type 'object'",
    ),
]


@pytest.mark.parametrize(("body", "message"), V30_ERRORS)
async def test_v3_0_validation_messages(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient, body, message: str
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(volume_client, demo, vid, body)
    assert resp.status_code == 400
    assert resp.json() == {"badRequest": {"code": 400, "message": message}}
    assert await volume_status(rt, vid) == "available"


async def test_v3_1_validation_messages(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(
        volume_client, demo, vid, {"image_name": "a", "visibility": "foo"}, version="3.1"
    )
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input for field/attribute visibility. Value: foo. 'foo' is not one of "
        "['community', 'public', 'private', 'shared']"
    )
    resp = await post_action(volume_client, demo, vid, {"image_name": "a", "force": "maybe"})
    assert resp.json()["badRequest"]["message"].startswith(
        "Invalid input for field/attribute force. Value: maybe. 'maybe' is not one of [True, 'True'"
    )
    resp = await post_action(volume_client, demo, vid, {"image_name": "x" * 256})
    assert resp.json()["badRequest"]["message"].endswith("is too long")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("container_format", "ova"),
        ("container_format", None),
        ("disk_format", "vhd"),
        ("force", "perhaps"),
        ("image_name", ""),
    ],
)
async def test_v2_rejects_values_outside_the_seed_lists(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient, field: str, value: object
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    body = {"image_name": "a", field: value}
    resp = await post_action(volume_client, demo, vid, body, api="v2")
    assert resp.status_code == 400, resp.text
    assert "badRequest" in resp.json()


async def test_v2_accepts_iso_and_v3_container_passes_through(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    resp = await post_action(
        volume_client, demo, vid, {"image_name": "a", "disk_format": "iso"}, api="v2"
    )
    assert resp.status_code == 202, resp.text
    vid2 = await small_volume(rt, demo)
    resp = await post_action(
        volume_client, demo, vid2, {"image_name": "a", "container_format": "ova"}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()[ACTION]["container_format"] == "ova"


async def test_in_use_volume_needs_force_and_v3_ignores_disabled_force(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    # No worker: the first accepted upload must still be `uploading` when the last
    # request arrives (a small upload can finish in between otherwise).
    await rt.jobs.stop()
    vid = await small_volume(rt, demo, status="in-use", attached=True)
    resp = await post_action(volume_client, demo, vid, {"image_name": "a"})
    assert resp.json() == {
        "badRequest": {
            "code": 400,
            "message": f"Invalid volume: Volume {vid} status must be available",
        }
    }
    # enable_force_upload is off: /v3 ignores force.
    resp = await post_action(volume_client, demo, vid, {"image_name": "a", "force": True})
    assert resp.json()["badRequest"]["message"].endswith("status must be available")
    # /v2 always honours force (docs/api-v2.md).
    resp = await post_action(
        volume_client, demo, vid, {"image_name": "a", "force": "True"}, api="v2"
    )
    assert resp.status_code == 202, resp.text
    resp = await post_action(volume_client, demo, vid, {"image_name": "a", "force": True}, api="v2")
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vid} status must be available or in-use"
    )


async def test_compressed_container_refused_and_nothing_left(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from cinderlite.db.models import Image, Job

    vid = await small_volume(rt, demo)
    resp = await post_action(
        volume_client, demo, vid, {"image_name": "a", "container_format": "compressed"}
    )
    assert resp.json() == {
        "badRequest": {
            "code": 400,
            "message": "Image compression upload disallowed, but container_format is compressed",
        }
    }
    assert await volume_status(rt, vid) == "available"
    async with rt.transaction() as db:
        assert (await db.execute(select(func.count()).select_from(Image))).scalar() == 0
        assert (await db.execute(select(func.count()).select_from(Job))).scalar() == 0


async def test_no_room_in_store_is_refused_before_202(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo, data=[(0, b"x" * 65536)])
    monkeypatch.setattr(rt.images, "free_bytes", lambda: 1024)
    resp = await post_action(volume_client, demo, vid, {"image_name": "a"})
    assert resp.status_code == 413, resp.text
    assert "Not enough space in the image store" in resp.json()["overLimit"]["message"]
    assert await volume_status(rt, vid) == "available"


async def test_twenty_simultaneous_uploads_one_wins(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await small_volume(rt, demo)
    # Hold the jobs: a finished upload would make the volume available again
    # and a later request could then rightly win too.
    await rt.jobs.stop()
    resps = await asyncio.gather(
        *(post_action(volume_client, demo, vid, {"image_name": f"race{i}"}) for i in range(20))
    )
    codes = sorted(r.status_code for r in resps)
    assert codes == [202] + [400] * 19, [r.text for r in resps if r.status_code not in (202, 400)]
    for r in resps:
        if r.status_code == 400:
            assert r.json()["badRequest"]["message"] == (
                f"Invalid volume: Volume {vid} status must be available"
            )
