"""POST /v2/images/{id}/actions/deactivate and /reactivate (Glance 2.3), and what a
deactivated image refuses: downloads by non-admins, volumes made from it."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import make_user
from tests.integration.image.test_image_data import OCTET, new_image, show
from tests.integration.volume.test_fill import create_from

pytestmark = pytest.mark.integration


def action(image_id: str, name: str) -> str:
    return f"/v2/images/{image_id}/actions/{name}"


async def active_image(image_client, who, data: bytes = b"d" * 4096, **body) -> str:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, who, **body)
    resp = await image_client.put(f"/v2/images/{image_id}/file", content=data,
                                  headers={**who.headers, **OCTET})
    assert resp.status_code == 204, resp.text
    return image_id


async def test_deactivate_and_reactivate(image_client, volume_client, demo, admin, reader) -> None:  # type: ignore[no-untyped-def]
    data = b"z" * 8192
    image_id = await active_image(image_client, demo, data, visibility="private")
    resp = await image_client.post(action(image_id, "deactivate"), headers=demo.headers)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""
    assert (await show(image_client, reader, image_id))["status"] == "deactivated"
    # Again: nothing to do.
    resp = await image_client.post(action(image_id, "deactivate"), headers=demo.headers)
    assert resp.status_code == 204

    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        "The requested image has been deactivated. Image data download is forbidden.")
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=admin.headers)
    assert resp.status_code == 200
    assert resp.content == data

    resp = await create_from(volume_client, demo, image_id)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid input received: Image {image_id} is not active.")

    resp = await image_client.post(action(image_id, "reactivate"), headers=demo.headers)
    assert resp.status_code == 204
    assert (await show(image_client, demo, image_id))["status"] == "active"
    resp = await image_client.post(action(image_id, "reactivate"), headers=demo.headers)
    assert resp.status_code == 204
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.content == data


async def test_action_refusals(image_client, demo, admin, reader, rt) -> None:  # type: ignore[no-untyped-def]
    queued = await new_image(image_client, demo)
    resp = await image_client.post(action(queued, "deactivate"), headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Not allowed to deactivate image in status 'queued'"
    resp = await image_client.post(action(queued, "reactivate"), headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Not allowed to reactivate image in status 'queued'"

    image_id = await active_image(image_client, demo)
    resp = await image_client.post(action(image_id, "deactivate"), headers=reader.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "You are not authorized to complete deactivate action."
    other = await make_user(rt, name="eve", project="other", roles=("member",))
    resp = await image_client.post(action(image_id, "deactivate"), headers=other.headers)
    assert resp.status_code == 404
    missing = str(uuid.uuid4())
    resp = await image_client.post(action(missing, "reactivate"), headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["message"] == f"No image found with ID {missing}"

    # An admin acts on any project's image; the owner cannot touch the admin's public one.
    resp = await image_client.post(action(image_id, "deactivate"), headers=admin.headers)
    assert resp.status_code == 204
    public = await active_image(image_client, admin, visibility="public")
    resp = await image_client.post(action(public, "deactivate"), headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "You are not authorized to complete deactivate action."
    assert (await show(image_client, demo, public))["status"] == "active"
