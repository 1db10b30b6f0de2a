"""Glance v2 image sharing over HTTP: members, their statuses and schemas, listings
with `visibility`/`member_status`, and what a member may do with a shared image."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import make_user
from tests.integration.image.test_image_data import OCTET, new_image
from tests.integration.volume.test_fill import create_from, pattern
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture
async def alt(rt):  # type: ignore[no-untyped-def]
    """A member of another project: the one images are shared with."""
    return await make_user(rt, name="alt", project="alt", roles=("member",))


def members_url(image_id: str, member_id: str | None = None) -> str:
    url = f"/v2/images/{image_id}/members"
    return url if member_id is None else f"{url}/{member_id}"


async def add(client: httpx.AsyncClient, who, image_id: str, member_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.post(members_url(image_id), json={"member": member_id},
                             headers=who.headers)


async def set_status(client: httpx.AsyncClient, who, image_id: str, member_id: str,  # type: ignore[no-untyped-def]
                     status: object) -> httpx.Response:
    return await client.put(members_url(image_id, member_id), json={"status": status},
                            headers=who.headers)


async def listed_ids(client: httpx.AsyncClient, who, query: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images{query}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return [i["id"] for i in resp.json()["images"]]


def message(resp: httpx.Response) -> str:
    return str(resp.json()["message"])


async def test_schemas(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/schemas/member", headers=demo.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["name"] == "member"
    assert body["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    assert set(body["properties"]) == {
        "member_id", "image_id", "created_at", "updated_at", "status", "schema"}
    resp = await image_client.get("/v2/schemas/members", headers=demo.headers)
    assert resp.json()["name"] == "members"
    assert resp.json()["properties"]["members"]["items"] == body
    assert (await image_client.get("/v2/schemas/member")).status_code == 401


async def test_share_accept_reject_and_remove(image_client, demo, alt, reader) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await add(image_client, demo, image_id, alt.project_id)
    assert resp.status_code == 200, resp.text
    member = resp.json()
    assert member["member_id"] == alt.project_id
    assert member["image_id"] == image_id
    assert member["status"] == "pending"
    assert member["schema"] == "/v2/schemas/member"
    assert member["created_at"].endswith("Z")

    # Pending: readable by the member, not in its default list.
    resp = await image_client.get(f"/v2/images/{image_id}", headers=alt.headers)
    assert resp.status_code == 200
    assert image_id not in await listed_ids(image_client, alt)
    assert await listed_ids(image_client, alt, "?visibility=shared&member_status=pending") == [
        image_id]
    assert image_id in await listed_ids(image_client, alt, "?member_status=all")

    resp = await set_status(image_client, alt, image_id, alt.project_id, "accepted")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "accepted"
    assert image_id in await listed_ids(image_client, alt)
    assert image_id in await listed_ids(image_client, alt, "?visibility=shared")
    assert image_id not in await listed_ids(image_client, alt, "?visibility=private")
    assert await listed_ids(image_client, alt, "?member_status=pending&visibility=shared") == []

    # The owner project's reader lists and shows members.
    resp = await image_client.get(members_url(image_id), headers=reader.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["schema"] == "/v2/schemas/members"
    assert [(m["member_id"], m["status"]) for m in body["members"]] == [
        (alt.project_id, "accepted")]
    resp = await image_client.get(members_url(image_id, alt.project_id), headers=reader.headers)
    assert resp.json()["status"] == "accepted"

    resp = await set_status(image_client, alt, image_id, alt.project_id, "rejected")
    assert resp.json()["status"] == "rejected"
    assert image_id not in await listed_ids(image_client, alt)
    assert image_id in await listed_ids(image_client, alt, "?member_status=rejected")

    resp = await image_client.delete(members_url(image_id, alt.project_id), headers=demo.headers)
    assert resp.status_code == 204
    resp = await image_client.get(f"/v2/images/{image_id}", headers=alt.headers)
    assert resp.status_code == 404
    assert image_id not in await listed_ids(image_client, alt, "?member_status=all")


async def test_only_the_member_changes_its_status(image_client, demo, alt, admin, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    assert (await add(image_client, demo, image_id, alt.project_id)).status_code == 200
    resp = await set_status(image_client, demo, image_id, alt.project_id, "accepted")
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete modify_member action."
    assert image_id not in await listed_ids(image_client, alt)

    resp = await set_status(image_client, alt, image_id, alt.project_id, "notavalidstatus")
    assert resp.status_code == 400
    assert message(resp) == (
        'Incorrect request: Status must be "pending", "accepted" or "rejected".')
    for body, text in [({}, "Status not specified"),
                       ([], 'Expected a status in the form: {"status": "status"}')]:
        resp = await image_client.put(members_url(image_id, alt.project_id), json=body,
                                      headers=alt.headers)
        assert resp.status_code == 400
        assert message(resp) == text

    # A second member sees (and changes) only its own membership.
    third = await make_user(rt, name="third", project="third", roles=("member",))
    assert (await add(image_client, demo, image_id, third.project_id)).status_code == 200
    resp = await image_client.get(members_url(image_id), headers=third.headers)
    assert [m["member_id"] for m in resp.json()["members"]] == [third.project_id]
    resp = await image_client.get(members_url(image_id), headers=demo.headers)
    assert [m["member_id"] for m in resp.json()["members"]] == [alt.project_id, third.project_id]
    resp = await set_status(image_client, third, image_id, alt.project_id, "rejected")
    assert resp.status_code == 404
    assert message(resp) == (
        f"{alt.project_id} not found in the member list of the image {image_id}.")
    resp = await image_client.get(members_url(image_id, alt.project_id), headers=third.headers)
    assert resp.status_code == 404
    # An admin may set it for them.
    resp = await set_status(image_client, admin, image_id, third.project_id, "accepted")
    assert resp.json()["status"] == "accepted"


async def test_member_refusals(image_client, demo, alt, reader) -> None:  # type: ignore[no-untyped-def]
    private = await new_image(image_client, demo, visibility="private")
    resp = await add(image_client, demo, private, alt.project_id)
    assert resp.status_code == 403
    assert message(resp) == f"Not allowed to create members for image {private}."
    resp = await image_client.get(members_url(private), headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == (
        f"Not allowed to list members for image {private}: Only shared images have members.")
    resp = await image_client.get(members_url(private, alt.project_id), headers=demo.headers)
    assert resp.status_code == 404
    assert message(resp) == "Only shared images have members."
    resp = await image_client.delete(members_url(private, alt.project_id), headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == f"Not allowed to delete members for image {private}."

    shared = await new_image(image_client, demo)
    missing = str(uuid.uuid4())
    resp = await add(image_client, demo, missing, alt.project_id)
    assert resp.status_code == 404
    assert message(resp) == f"Image {missing} not found."
    # Invisible to a stranger: the same 404.
    resp = await add(image_client, alt, shared, alt.project_id)
    assert resp.status_code == 404
    # The owner project's reader reads but does not add.
    resp = await add(image_client, reader, shared, alt.project_id)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_member action."
    for body, text in [
        ({}, "Member to be added not specified"),
        ({"member": ""}, "Member can't be empty"),
        (["x"], 'Expected a member in the form: {"member": "image_id"}'),
        ({"member": 7}, 'Expected a member in the form: {"member": "image_id"}'),
        ({"member": "x" * 65}, "Member can't be longer than 64 characters"),
    ]:
        resp = await image_client.post(members_url(shared), json=body, headers=demo.headers)
        assert resp.status_code == 400, body
        assert message(resp) == text
    resp = await image_client.post(members_url(shared), headers=demo.headers)
    assert resp.status_code == 400
    assert message(resp) == "Body expected in request."

    assert (await add(image_client, demo, shared, alt.project_id)).status_code == 200
    resp = await add(image_client, demo, shared, alt.project_id)
    assert resp.status_code == 409
    assert message(resp) == f"Member {alt.project_id} is duplicated for image {shared}"
    # The member cannot remove itself, nor add others.
    resp = await image_client.delete(members_url(shared, alt.project_id), headers=alt.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete delete_member action."
    resp = await add(image_client, alt, shared, "someone")
    assert resp.status_code == 403
    resp = await image_client.get(members_url(shared, "nobody"), headers=demo.headers)
    assert resp.status_code == 404
    assert message(resp) == f"nobody not found in the member list of the image {shared}."

    # Made private, the image hides from its former member.
    resp = await image_client.patch(
        f"/v2/images/{shared}", json=[{"op": "replace", "path": "/visibility",
                                       "value": "private"}], headers={**demo.headers, **PATCH})
    assert resp.status_code == 200
    resp = await set_status(image_client, alt, shared, alt.project_id, "accepted")
    assert resp.status_code == 404


async def test_member_quota(image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    rt.services.image_members._quota = 2
    image_id = await new_image(image_client, demo)
    for member in ("p1", "p2"):
        assert (await add(image_client, demo, image_id, member)).status_code == 200
    resp = await add(image_client, demo, image_id, "p3")
    assert resp.status_code == 413
    assert message(resp) == (
        f"Image member limit exceeded for image {image_id}: The limit has been exceeded on "
        "the number of allowed image members for this image. Attempted: 3, Maximum: 2:")


async def test_deleting_the_image_removes_its_members(image_client, demo, alt) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    assert (await add(image_client, demo, image_id, alt.project_id)).status_code == 200
    assert (await image_client.delete(f"/v2/images/{image_id}",
                                      headers=demo.headers)).status_code == 204
    assert image_id not in await listed_ids(image_client, alt, "?member_status=all")


async def test_listing_visibility_filters(image_client, demo, alt, admin) -> None:  # type: ignore[no-untyped-def]
    community = await new_image(image_client, demo, visibility="community")
    private = await new_image(image_client, demo, visibility="private")
    shared = await new_image(image_client, demo)
    assert (await add(image_client, demo, shared, alt.project_id)).status_code == 200
    assert (await set_status(image_client, alt, shared, alt.project_id,
                             "accepted")).status_code == 200
    assert set(await listed_ids(image_client, alt)) == {shared}
    assert set(await listed_ids(image_client, alt, "?visibility=community")) == {community}
    assert set(await listed_ids(image_client, alt, "?visibility=all")) == {community, shared}
    assert await listed_ids(image_client, alt, "?visibility=private") == []
    assert set(await listed_ids(image_client, demo)) == {community, private, shared}
    # An admin's default list leaves out other projects' community images, as Glance's.
    admin_default = set(await listed_ids(image_client, admin))
    assert {private, shared} <= admin_default
    assert community not in admin_default
    assert community in await listed_ids(image_client, admin, "?visibility=community")
    assert community in await listed_ids(image_client, admin, "?visibility=all")
    resp = await image_client.get("/v2/images?member_status=maybe", headers=alt.headers)
    assert resp.status_code == 400


async def test_accepted_member_downloads_and_makes_a_volume(  # type: ignore[no-untyped-def]
    image_client, volume_client, demo, alt, rt,
) -> None:
    data = pattern(2 << 20)
    image_id = await new_image(image_client, demo)
    resp = await image_client.put(f"/v2/images/{image_id}/file", content=data,
                                  headers={**demo.headers, **OCTET})
    assert resp.status_code == 204, resp.text
    # Not a member yet: not visible, no volume.
    resp = await create_from(volume_client, alt, image_id)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Invalid imageRef provided."
    assert (await add(image_client, demo, image_id, alt.project_id)).status_code == 200
    assert (await set_status(image_client, alt, image_id, alt.project_id,
                             "accepted")).status_code == 200
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=alt.headers)
    assert resp.status_code == 200
    assert resp.content == data
    resp = await create_from(volume_client, alt, image_id)
    assert resp.status_code == 202, resp.text
    vol = await wait_status(volume_client, alt, resp.json()["volume"]["id"], "available")
    assert vol["volume_image_metadata"]["image_id"] == image_id
    with rt.volumes.path(vol["id"]).open("rb") as fh:
        assert fh.read(len(data)) == data
    # A rejected member cannot make one.
    assert (await set_status(image_client, alt, image_id, alt.project_id,
                             "rejected")).status_code == 200
    resp = await create_from(volume_client, alt, image_id)
    assert resp.json()["badRequest"]["message"] == "Invalid imageRef provided."


async def test_community_image_makes_a_volume_for_anyone(  # type: ignore[no-untyped-def]
    image_client, volume_client, demo, alt,
) -> None:
    image_id = await new_image(image_client, demo, visibility="community")
    resp = await image_client.put(f"/v2/images/{image_id}/file", content=b"c" * 4096,
                                  headers={**demo.headers, **OCTET})
    assert resp.status_code == 204
    resp = await create_from(volume_client, alt, image_id)
    assert resp.status_code == 202, resp.text
    await wait_status(volume_client, alt, resp.json()["volume"]["id"], "available")
