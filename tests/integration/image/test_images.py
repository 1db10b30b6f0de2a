"""Glance v2 image metadata API: versions, schemas, create/list/show/update/delete, visibility."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from cinderlite.services import images as images_service
from tests.conftest import make_user

pytestmark = pytest.mark.integration

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


async def create(client: httpx.AsyncClient, who, **body):  # type: ignore[no-untyped-def]
    resp = await client.post("/v2/images", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_root_answers_300_with_versions_without_token(image_client) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/")
    assert resp.status_code == 300
    versions = resp.json()["versions"]
    # Glance's versions.py order on a site without a cache or several stores (with
    # 2.13-2.11, served here without several stores, where Glance lists 2.9 alone).
    assert [(v["id"], v["status"]) for v in versions] == [
        ("v2.15", "SUPPORTED"), ("v2.13", "SUPPORTED"), ("v2.12", "SUPPORTED"),
        ("v2.11", "SUPPORTED"), ("v2.9", "SUPPORTED"), ("v2.17", "CURRENT"),
        *[(f"v2.{n}", "SUPPORTED") for n in range(7, -1, -1)],
    ]
    assert all(
        v["links"] == [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}] for v in versions
    )
    resp = await image_client.get("/versions")
    assert resp.status_code == 200
    assert resp.json()["versions"] == versions


async def test_requests_without_valid_token_get_keystone_401(image_client) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/images")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Keystone uri=")
    resp = await image_client.get("/v2/images", headers={"X-Auth-Token": "nope"})
    assert resp.status_code == 401


async def test_schemas_list_configured_formats(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/schemas/image", headers=demo.headers)
    assert resp.status_code == 200
    props = resp.json()["properties"]
    assert props["disk_format"]["enum"] == [None, *images_service.DISK_FORMATS]
    assert props["container_format"]["enum"] == [None, *images_service.CONTAINER_FORMATS]
    assert "locations" not in props
    resp = await image_client.get("/v2/schemas/images", headers=demo.headers)
    assert resp.json()["properties"]["images"]["items"]["name"] == "image"
    # Served since metadata definitions are (tests/integration/image/test_metadefs.py).
    resp = await image_client.get("/v2/schemas/metadefs/namespace", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.json()["name"] == "namespace"


async def test_create_returns_queued_image_with_defaults(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(
        "/v2/images", headers=demo.headers,
        json={"name": "img", "disk_format": "qcow2", "container_format": "bare",
              "tags": ["a", "a", "b"], "os_distro": "debian"},
    )
    assert resp.status_code == 201
    img = resp.json()
    assert resp.headers["location"] == f"http://127.0.0.1:9292/v2/images/{img['id']}"
    assert img["status"] == "queued"
    assert img["visibility"] == "shared"
    assert img["owner"] == demo.project_id
    assert img["protected"] is False
    assert img["os_hidden"] is False
    assert img["min_disk"] == 0
    assert img["min_ram"] == 0
    assert img["tags"] == ["a", "b"]
    assert img["os_distro"] == "debian"
    for key in ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value"):
        assert img[key] is None
    assert img["self"] == f"/v2/images/{img['id']}"
    assert img["file"] == f"/v2/images/{img['id']}/file"
    assert img["schema"] == "/v2/schemas/image"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", img["created_at"])


async def test_create_with_given_id(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    wanted = str(uuid.uuid4())
    img = await create(image_client, demo, id=wanted)
    assert img["id"] == wanted
    resp = await image_client.post("/v2/images", json={"id": wanted}, headers=demo.headers)
    assert resp.status_code == 409


async def test_create_with_the_id_of_an_image_not_visible_is_a_conflict(  # type: ignore[no-untyped-def]
    image_client, admin, demo
) -> None:
    wanted = str(uuid.uuid4())
    await create(image_client, admin, id=wanted, visibility="private")
    resp = await image_client.post(
        "/v2/images", json={"id": wanted},
        headers={**demo.headers, "Accept": "application/json"},
    )
    assert resp.status_code == 409
    assert f"Image with identifier {wanted} already exists!" in resp.text
    resp = await image_client.get(f"/v2/images/{wanted}", headers=admin.headers)
    assert resp.json()["visibility"] == "private"


@pytest.mark.parametrize("key", ["status", "checksum", "size", "os_hash_value", "self"])
async def test_create_refuses_read_only_attributes(image_client, demo, key) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={key: "x"}, headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == f"Attribute '{key}' is read-only."
    assert resp.json()["code"] == "403 Forbidden"


@pytest.mark.parametrize("key", ["location", "deleted", "deleted_at", "os_glance_foo"])
async def test_create_refuses_reserved_attributes(image_client, demo, key) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={key: "x"}, headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == f"Attribute '{key}' is reserved."


@pytest.mark.parametrize(
    "body",
    [{"disk_format": "floppy"}, {"container_format": "zip"}, {"visibility": "everyone"},
     {"min_disk": "ten"}, {"name": "x" * 256}, {"custom": 5}, {"tags": [1]},
     {"protected": "yes"}],
)
async def test_create_refuses_bad_values(image_client, demo, body) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json=body, headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("Provided object does not match schema 'image'")


async def test_malformed_json_is_400(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", content=b"{nope", headers=demo.headers)
    assert resp.status_code == 400


async def test_only_admin_may_create_public_images(image_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"visibility": "public"},
                                   headers=demo.headers)
    assert resp.status_code == 403
    img = await create(image_client, admin, visibility="public")
    assert img["visibility"] == "public"


async def test_reader_cannot_create_but_sees_project_images(image_client, demo, reader) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "r"}, headers=reader.headers)
    assert resp.status_code == 403
    img = await create(image_client, demo, name="mine", visibility="private")
    resp = await image_client.get(f"/v2/images/{img['id']}", headers=reader.headers)
    assert resp.status_code == 200
    resp = await image_client.get("/v2/images?name=mine", headers=reader.headers)
    assert [i["id"] for i in resp.json()["images"]] == [img["id"]]
    resp = await image_client.delete(f"/v2/images/{img['id']}", headers=reader.headers)
    assert resp.status_code == 403


async def test_other_projects_cannot_see_private_or_shared(image_client, rt, demo, admin) -> None:  # type: ignore[no-untyped-def]
    other = await make_user(rt, name="eve", project="other", roles=("member",))
    private = await create(image_client, demo, visibility="private")
    shared = await create(image_client, demo)
    public = await create(image_client, admin, visibility="public")
    community = await create(image_client, demo, visibility="community")
    for img in (private, shared):
        resp = await image_client.get(f"/v2/images/{img['id']}", headers=other.headers)
        assert resp.status_code == 404
        assert resp.json()["message"] == f"No image found with ID {img['id']}"
        resp = await image_client.delete(f"/v2/images/{img['id']}", headers=other.headers)
        assert resp.status_code == 404
    for img in (public, community):
        resp = await image_client.get(f"/v2/images/{img['id']}", headers=other.headers)
        assert resp.status_code == 200
    resp = await image_client.delete(f"/v2/images/{public['id']}", headers=other.headers)
    assert resp.status_code == 403
    listed = await image_client.get("/v2/images", headers=other.headers)
    assert {i["id"] for i in listed.json()["images"]} == {public["id"]}
    listed = await image_client.get("/v2/images?visibility=community", headers=other.headers)
    assert {i["id"] for i in listed.json()["images"]} == {community["id"]}
    listed = await image_client.get("/v2/images", headers=admin.headers)
    assert {private["id"], shared["id"], public["id"]} <= {
        i["id"] for i in listed.json()["images"]
    }


async def test_list_filters_sorts_and_pages(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    ids = [(await create(image_client, demo, name=f"n{i}", min_disk=i))["id"] for i in range(5)]
    hidden = await create(image_client, demo, name="h", os_hidden=True)
    resp = await image_client.get("/v2/images", headers=demo.headers)
    body = resp.json()
    assert body["schema"] == "/v2/schemas/images"
    assert body["first"] == "/v2/images"
    assert "next" not in body
    assert [i["id"] for i in body["images"]] == list(reversed(ids))
    resp = await image_client.get("/v2/images?os_hidden=true", headers=demo.headers)
    assert [i["id"] for i in resp.json()["images"]] == [hidden["id"]]

    seen: list[str] = []
    url = "/v2/images?limit=2&sort_key=min_disk&sort_dir=asc"
    while url:
        body = (await image_client.get(url, headers=demo.headers)).json()
        seen += [i["id"] for i in body["images"]]
        url = body.get("next", "")
    assert seen == ids

    resp = await image_client.get("/v2/images?sort=name:desc", headers=demo.headers)
    assert [i["name"] for i in resp.json()["images"]] == ["n4", "n3", "n2", "n1", "n0"]
    resp = await image_client.get("/v2/images?status=active", headers=demo.headers)
    assert resp.json()["images"] == []
    resp = await image_client.get("/v2/images?sort_key=bogus", headers=demo.headers)
    assert resp.status_code == 400
    resp = await image_client.get(f"/v2/images?marker={uuid.uuid4()}", headers=demo.headers)
    assert resp.status_code == 400


async def test_patch_updates_fields_properties_and_tags(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    img = await create(image_client, demo, name="old", tags=["t1"], foo="1")
    ops = [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "add", "path": "/bar", "value": "2"},
        {"op": "remove", "path": "/foo"},
        {"op": "replace", "path": "/min_ram", "value": 512},
        {"op": "add", "path": "/tags/-", "value": "t2"},
        {"op": "replace", "path": "/protected", "value": True},
    ]
    resp = await image_client.patch(f"/v2/images/{img['id']}", json=ops,
                                    headers={**demo.headers, **PATCH})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["name"] == "new"
    assert out["bar"] == "2"
    assert "foo" not in out
    assert out["min_ram"] == 512
    assert out["tags"] == ["t1", "t2"]
    assert out["protected"] is True
    shown = (await image_client.get(f"/v2/images/{img['id']}", headers=demo.headers)).json()
    assert shown == out


async def test_patch_errors(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    img = await create(image_client, demo, name="x")
    url = f"/v2/images/{img['id']}"
    hdrs = {**demo.headers, **PATCH}
    resp = await image_client.patch(url, json=[{"op": "replace", "path": "/name", "value": "y"}],
                                    headers={**demo.headers, "Content-Type": "application/json"})
    assert resp.status_code == 415
    resp = await image_client.patch(
        url, json=[{"op": "replace", "path": "/status", "value": "active"}], headers=hdrs)
    assert resp.status_code == 403
    assert resp.json()["message"] == "Attribute 'status' is read-only."
    resp = await image_client.patch(
        url, json=[{"op": "remove", "path": "/nothere"}], headers=hdrs)
    assert resp.status_code == 409
    resp = await image_client.patch(
        url, json=[{"op": "replace", "path": "/visibility", "value": "public"}], headers=hdrs)
    assert resp.status_code == 403
    resp = await image_client.patch(
        url, json=[{"op": "replace", "path": "/min_disk", "value": -1}], headers=hdrs)
    assert resp.status_code == 400
    shown = (await image_client.get(url, headers=demo.headers)).json()
    assert shown["visibility"] == "shared"
    assert shown["min_disk"] == 0


async def test_delete_protected_then_unprotected(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    img = await create(image_client, demo, protected=True)
    url = f"/v2/images/{img['id']}"
    resp = await image_client.delete(url, headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == f"Image {img['id']} is protected and cannot be deleted."
    await image_client.patch(url, json=[{"op": "replace", "path": "/protected", "value": False}],
                             headers={**demo.headers, **PATCH})
    resp = await image_client.delete(url, headers=demo.headers)
    assert resp.status_code == 204
    assert (await image_client.get(url, headers=demo.headers)).status_code == 404
    assert (await image_client.delete(url, headers=demo.headers)).status_code == 404


async def test_tags_api_adds_and_removes(image_client, demo, reader) -> None:  # type: ignore[no-untyped-def]
    img = await create(image_client, demo, tags=["a"])
    url = f"/v2/images/{img['id']}/tags"
    assert (await image_client.put(f"{url}/b", headers=demo.headers)).status_code == 204
    assert (await image_client.put(f"{url}/b", headers=demo.headers)).status_code == 204
    assert (await image_client.put(f"{url}/c", headers=reader.headers)).status_code == 403
    assert (await image_client.delete(f"{url}/a", headers=demo.headers)).status_code == 204
    assert (await image_client.delete(f"{url}/zz", headers=demo.headers)).status_code == 404
    shown = (await image_client.get(f"/v2/images/{img['id']}", headers=demo.headers)).json()
    assert shown["tags"] == ["b"]


async def test_errors_are_html_unless_json_is_asked_for(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    missing = str(uuid.uuid4())
    resp = await image_client.get(f"/v2/images/{missing}",
                                  headers={**demo.headers, "Accept": "*/*"})
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in resp.text
    assert f"No image found with ID {missing}" in resp.text
    resp = await image_client.get(f"/v2/images/{missing}", headers=demo.headers)
    assert resp.json() == {"code": "404 Not Found", "title": "Not Found",
                           "message": f"No image found with ID {missing}"}
