"""Keystone's catalog API (regions, services, endpoints), the token catalog built
from it, and the built-in endpoints that follow the configured host and ports."""

from __future__ import annotations

import httpx
import pytest

from cinderlite.services import catalog

pytestmark = pytest.mark.integration


async def token_catalog(identity_client: httpx.AsyncClient, who) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await identity_client.get("/v3/auth/catalog", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["catalog"]  # type: ignore[no-any-return]


async def test_the_built_in_catalog_is_served_and_listed(rt, identity_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    entries = {e["type"]: e for e in await token_catalog(identity_client, demo)}
    assert set(entries) == {"identity", "block-storage", "volumev3", "volumev2", "image"}
    public = [e for e in entries["block-storage"]["endpoints"] if e["interface"] == "public"]
    assert public[0]["url"] == f"{rt.settings.volume_url()}/v3/{demo.project_id}"
    assert public[0]["region"] == public[0]["region_id"] == rt.settings.region

    listed = await identity_client.get("/v3/endpoints?interface=public", headers=admin.headers)
    urls = {e["url"] for e in listed.json()["endpoints"]}
    assert f"{rt.settings.volume_url()}/v3/$(project_id)s" in urls
    assert len(listed.json()["endpoints"]) == 5
    services = await identity_client.get("/v3/services?type=image", headers=admin.headers)
    (image,) = services.json()["services"]
    assert (image["name"], image["enabled"]) == ("glance", True)
    regions = await identity_client.get("/v3/regions", headers=demo.headers)
    assert [r["id"] for r in regions.json()["regions"]] == [rt.settings.region]


async def test_reads_and_writes_follow_keystone_policy(identity_client, demo) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v3/services", "/v3/endpoints"):
        resp = await identity_client.get(path, headers=demo.headers)
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["message"].startswith("You are not authorized")
    assert (await identity_client.get("/v3/regions", headers=demo.headers)).status_code == 200
    resp = await identity_client.post("/v3/regions", json={"region": {}}, headers=demo.headers)
    assert resp.status_code == 403
    assert (await identity_client.get("/v3/regions")).status_code == 401


async def test_an_added_endpoint_shows_in_the_next_token(identity_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await identity_client.post(
        "/v3/services", json={"service": {"type": "object-store", "name": "swift"}},
        headers=admin.headers)
    assert resp.status_code == 201, resp.text
    service_id = resp.json()["service"]["id"]
    resp = await identity_client.post("/v3/endpoints", headers=admin.headers, json={"endpoint": {
        "interface": "public", "service_id": service_id, "region_id": "RegionTwo",
        "url": "http://swift.example/v1/AUTH_%(tenant_id)s"}})
    assert resp.status_code == 201, resp.text
    endpoint = resp.json()["endpoint"]
    assert endpoint["region"] == endpoint["region_id"] == "RegionTwo"
    # Keystone makes the region an endpoint names.
    shown = await identity_client.get("/v3/regions/RegionTwo", headers=demo.headers)
    assert shown.status_code == 200, shown.text

    entries = {e["type"]: e for e in await token_catalog(identity_client, demo)}
    (swift,) = entries["object-store"]["endpoints"]
    assert swift["url"] == f"http://swift.example/v1/AUTH_{demo.project_id}"

    resp = await identity_client.patch(f"/v3/endpoints/{endpoint['id']}",
                                       json={"endpoint": {"enabled": False}},
                                       headers=admin.headers)
    assert resp.status_code == 200, resp.text
    entries = {e["type"]: e for e in await token_catalog(identity_client, demo)}
    assert "object-store" not in entries

    # A region with endpoints cannot go; the service takes its endpoints along.
    resp = await identity_client.delete("/v3/regions/RegionTwo", headers=admin.headers)
    assert resp.status_code == 403, resp.text
    resp = await identity_client.delete(f"/v3/services/{service_id}", headers=admin.headers)
    assert resp.status_code == 204
    resp = await identity_client.get(f"/v3/endpoints/{endpoint['id']}", headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == f"Could not find endpoint: {endpoint['id']}."
    resp = await identity_client.delete("/v3/regions/RegionTwo", headers=admin.headers)
    assert resp.status_code == 204


async def test_bad_catalog_requests(identity_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await identity_client.post("/v3/endpoints", headers=admin.headers, json={"endpoint": {
        "interface": "public", "service_id": "nope", "url": "http://x.example/"}})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["message"].startswith(
        "Expecting to find endpoint service_id in service table.")
    resp = await identity_client.post("/v3/endpoints", headers=admin.headers, json={"endpoint": {
        "interface": "sideways", "service_id": "nope", "url": "http://x.example/"}})
    assert resp.status_code == 400, resp.text
    for body in ({"region": {"id": "a"}}, {"region": {"id": "b", "parent_region_id": "a"}}):
        resp = await identity_client.post("/v3/regions", json=body, headers=admin.headers)
        assert resp.status_code == 201, resp.text
    resp = await identity_client.post("/v3/regions", json={"region": {"id": "a"}},
                                      headers=admin.headers)
    assert resp.status_code == 409, resp.text
    resp = await identity_client.patch("/v3/regions/a",
                                       json={"region": {"parent_region_id": "b"}},
                                       headers=admin.headers)
    assert resp.status_code == 400, resp.text
    assert "Circular reference" in resp.json()["error"]["message"]
    resp = await identity_client.post("/v3/regions",
                                      json={"region": {"id": "c", "parent_region_id": "zz"}},
                                      headers=admin.headers)
    assert resp.status_code == 404, resp.text
    # An id from a PUT's path is held to the column's width too (PostgreSQL would refuse it).
    resp = await identity_client.put("/v3/regions/" + "r" * 256, json={"region": {}},
                                     headers=admin.headers)
    assert resp.status_code == 400, resp.text
    # Deleting a parent takes its children along.
    assert (await identity_client.delete("/v3/regions/a", headers=admin.headers)).status_code == 204
    assert (await identity_client.get("/v3/regions/b", headers=admin.headers)).status_code == 404


async def test_built_in_endpoints_follow_the_settings(rt) -> None:  # type: ignore[no-untyped-def]
    moved = catalog.builtin_services(identity_url="http://h:1", volume_url="http://h:2",
                                     image_url="http://h:3")
    service = rt.services.catalog
    changed = await service.sync_builtin(moved, rt.settings.region)
    assert changed == 15  # 5 services x 3 interfaces, URLs only
    entries = {e["type"]: e for e in
               await service.token_catalog(project_id="p1", user_id="u")}
    assert {ep["url"] for ep in entries["volumev2"]["endpoints"]} == {"http://h:2/v2/p1"}
    assert await service.sync_builtin(moved, rt.settings.region) == 0
