"""What real clients tripped on in what is served: trailing slashes, the Glance
2.0 patch dialect, unknown volume sources, version discovery, image tasks, and
the one access log line per request."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest

pytestmark = pytest.mark.integration

PATCH_20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}
PATCH_21 = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
async def test_collections_with_a_trailing_slash_are_404(
    volume_client: httpx.AsyncClient, image_client: httpx.AsyncClient, demo, method: str,
) -> None:  # type: ignore[no-untyped-def]
    for path in (f"/v3/{demo.project_id}/volumes/", f"/v2/{demo.project_id}/volumes/",
                 "/v3/volumes/", f"/v3/{demo.project_id}/volumes/detail/"):
        resp = await volume_client.request(method, path, headers=demo.headers)
        assert resp.status_code == 404, (path, resp.status_code, resp.text)
        assert resp.json()["itemNotFound"]["code"] == 404
    resp = await image_client.request(
        method, "/v2/images/", headers={**demo.headers, "Accept": "application/json"}
    )
    assert resp.status_code == 404, resp.text
    assert "location" not in resp.headers


async def test_glance_patch_takes_both_media_types(
    image_client: httpx.AsyncClient, demo,
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "a"}, headers=demo.headers)
    image_id = resp.json()["id"]
    # 2.0: draft 4, the operation is the member's name.
    resp = await image_client.patch(
        f"/v2/images/{image_id}",
        json=[{"replace": "/name", "value": "b"}, {"add": "/x_color", "value": "blue"}],
        headers={**demo.headers, **PATCH_20},
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["name"], resp.json()["x_color"]) == ("b", "blue")
    resp = await image_client.patch(
        f"/v2/images/{image_id}", json=[{"remove": "/x_color"}],
        headers={**demo.headers, **PATCH_20},
    )
    assert resp.status_code == 200, resp.text
    assert "x_color" not in resp.json()
    for bad in ([{"replace": "/name", "add": "/name", "value": "c"}], [{"value": "c"}]):
        resp = await image_client.patch(
            f"/v2/images/{image_id}", json=bad,
            headers={**demo.headers, **PATCH_20, "Accept": "application/json"},
        )
        assert resp.status_code == 400, resp.text
        assert "Operation objects must contain" in resp.json()["message"]
    # 2.1: RFC 6902.
    resp = await image_client.patch(
        f"/v2/images/{image_id}", json=[{"op": "replace", "path": "/name", "value": "c"}],
        headers={**demo.headers, **PATCH_21},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "c"


async def test_glance_patch_of_another_media_type_is_415_naming_the_ones_taken(
    image_client: httpx.AsyncClient, demo,
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "a"}, headers=demo.headers)
    image_id = resp.json()["id"]
    resp = await image_client.patch(
        f"/v2/images/{image_id}", json=[{"op": "replace", "path": "/name", "value": "b"}],
        headers={**demo.headers, "Content-Type": "application/json",
                 "Accept": "application/json"},
    )
    assert resp.status_code == 415, resp.text
    assert resp.headers["accept-patch"] == (
        "application/openstack-images-v2.0-json-patch, "
        "application/openstack-images-v2.1-json-patch"
    )
    assert resp.json()["code"] == "415 Unsupported Media Type"
    assert "application/openstack-images-v2.1-json-patch" in resp.json()["message"]
    shown = await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)
    assert shown.json()["name"] == "a"


@pytest.mark.parametrize(
    ("key", "kind"),
    [("snapshot_id", "Snapshot"), ("source_volid", "Volume"), ("backup_id", "Backup"),
     ("consistencygroup_id", "ConsistencyGroup"), ("group_id", "Group")],
)
async def test_a_source_that_does_not_exist_is_404(
    volume_client: httpx.AsyncClient, demo, key: str, kind: str,
) -> None:  # type: ignore[no-untyped-def]
    missing = str(uuid.uuid4())
    for api in ("v2", "v3"):
        resp = await volume_client.post(
            f"/{api}/{demo.project_id}/volumes",
            json={"volume": {"size": 1, key: missing}}, headers=demo.headers,
        )
        assert resp.status_code == 404, resp.text
        assert resp.json()["itemNotFound"]["message"] == f"{kind} {missing} could not be found."
    listed = await volume_client.get(f"/v3/{demo.project_id}/volumes", headers=demo.headers)
    assert listed.json()["volumes"] == []


async def test_a_source_volume_is_cloned_and_another_projects_is_not_found(
    volume_client: httpx.AsyncClient, demo, admin,
) -> None:  # type: ignore[no-untyped-def]
    base = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=demo.headers)
    source = resp.json()["volume"]["id"]
    for _ in range(200):
        shown = await volume_client.get(f"{base}/{source}", headers=demo.headers)
        if shown.json()["volume"]["status"] == "available":
            break
        await asyncio.sleep(0.05)
    resp = await volume_client.post(
        base, json={"volume": {"size": 1, "source_volid": source}}, headers=demo.headers
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["volume"]["source_volid"] == source
    # Another project's volume is one this caller cannot see: 404, as if missing.
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/volumes", json={"volume": {"size": 1}}, headers=admin.headers
    )
    theirs = resp.json()["volume"]["id"]
    resp = await volume_client.post(
        base, json={"volume": {"size": 1, "source_volid": theirs}}, headers=demo.headers
    )
    assert resp.status_code == 404, resp.text
    assert resp.json()["itemNotFound"]["message"] == f"Volume {theirs} could not be found."


async def test_image_tasks_is_an_empty_list_for_a_visible_image(
    image_client: httpx.AsyncClient, demo, admin,
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "t"}, headers=demo.headers)
    image_id = resp.json()["id"]
    resp = await image_client.get(f"/v2/images/{image_id}/tasks", headers=demo.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"tasks": []}
    other = await image_client.post("/v2/images", json={"name": "p"}, headers=admin.headers)
    for image in (other.json()["id"], str(uuid.uuid4())):
        resp = await image_client.get(f"/v2/images/{image}/tasks",
                                      headers={**demo.headers, "Accept": "application/json"})
        assert resp.status_code == 404, resp.text
    resp = await image_client.get(f"/v2/images/{image_id}/tasks")
    assert resp.status_code == 401


async def test_one_access_line_per_request_without_secrets(
    volume_client: httpx.AsyncClient, image_client: httpx.AsyncClient,
    identity_client: httpx.AsyncClient, demo, caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="cinderlite.api.access")
    await volume_client.get(f"/v3/{demo.project_id}/volumes/detail", headers=demo.headers)
    await volume_client.get(f"/v3/{demo.project_id}/volumes/{uuid.uuid4()}",
                            headers=demo.headers)
    await image_client.get("/v2/images?name=x", headers=demo.headers)
    await identity_client.get("/v3/auth/tokens",
                              headers={**demo.headers, "X-Subject-Token": demo.token})
    await volume_client.get(f"/v3/{demo.project_id}/volumes")  # no token: 401
    lines = [r.getMessage() for r in caplog.records if r.name == "cinderlite.api.access"]
    assert len(lines) == 5, lines
    who = f"{demo.caller.user_id} {demo.project_id}"
    assert lines[0].startswith(f"GET /v3/{demo.project_id}/volumes/detail status: 200 len: ")
    assert lines[0].endswith(f"{who}]")
    assert " status: 404 " in lines[1]
    assert lines[2].startswith("GET /v2/images status: 200 ")
    assert lines[3].startswith("GET /v3/auth/tokens status: 200 ")
    assert lines[4].startswith(f"GET /v3/{demo.project_id}/volumes status: 401 ")
    assert lines[4].endswith("- -]")
    for line in lines:
        assert "[req-" in line
        assert " time: " in line
        assert demo.token not in line
    assert all(r.levelno == logging.INFO for r in caplog.records
               if r.name == "cinderlite.api.access")
