"""Volumes through the ASGI volume API: create, show, list, update, delete, views."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.integration

V30_KEYS = {
    "id", "status", "size", "availability_zone", "created_at", "updated_at", "attachments",
    "name", "description", "volume_type", "snapshot_id", "source_volid", "metadata", "links",
    "user_id", "bootable", "encrypted", "replication_status", "consistencygroup_id",
    "multiattach",
}
ADMIN_KEYS = {
    "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat", "os-vol-mig-status-attr:name_id",
}


async def create(client: httpx.AsyncClient, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    body = {"volume": {"size": 1, **fields}}
    resp = await client.post(f"/v3/{who.project_id}/volumes", json=body, headers=who.headers)
    assert resp.status_code == 202, resp.text
    return resp.json()["volume"]


async def show(client: httpx.AsyncClient, who, volume_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.get(f"/v3/{who.project_id}/volumes/{volume_id}", headers=who.headers)


async def wait_status(client, who, volume_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        resp = await show(client, who, volume_id)
        body = resp.json().get("volume", {})
        return body if body.get("status") == status else None

    return await wait_for(check)


async def test_create_returns_202_with_exactly_the_30_keys(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes",
        json={"volume": {"availability_zone": None, "metadata": None, "backup_id": None,
                         "description": None, "source_volid": None,
                         "consistencygroup_id": None, "size": 1, "volume_type": None,
                         "name": "v1", "snapshot_id": None, "imageRef": None}},
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    vol = resp.json()["volume"]
    assert set(vol) == V30_KEYS
    assert vol["status"] == "creating"
    assert vol["name"] == "v1"
    assert vol["volume_type"] == "__DEFAULT__"
    assert vol["bootable"] == "false"
    assert vol["metadata"] == {}
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"
    assert resp.headers["Vary"] == "OpenStack-API-Version"
    assert resp.headers["x-compute-request-id"].startswith("req-")


async def test_volume_becomes_available_and_show_adds_tenant_attr(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, name="v1")
    shown = await wait_status(volume_client, demo, vol["id"], "available")
    assert set(shown) == V30_KEYS | {"os-vol-tenant-attr:tenant_id"}
    assert shown["os-vol-tenant-attr:tenant_id"] == demo.project_id
    assert shown["created_at"].count(".") == 1
    assert len(shown["created_at"]) == 26
    assert rt.volumes.path(vol["id"]).stat().st_size == 1 << 30


async def test_admin_sees_admin_only_keys(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    resp = await volume_client.get(f"/v3/{admin.project_id}/volumes/{vol['id']}",
                                   headers=admin.headers)
    assert resp.status_code == 200
    assert set(resp.json()["volume"]) >= ADMIN_KEYS


async def test_show_unknown_name_or_other_project_is_404(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await show(volume_client, demo, "v1")
    assert resp.status_code == 404
    assert resp.json() == {"itemNotFound": {"code": 404,
                                            "message": "Volume v1 could not be found."}}
    theirs = await create(volume_client, admin)
    resp = await show(volume_client, demo, theirs["id"])
    assert resp.status_code == 404
    assert resp.headers["OpenStack-API-Version"] == "volume 3.0"


async def test_project_less_urls_are_served(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    resp = await volume_client.get(f"/v3/volumes/{vol['id']}", headers=demo.headers)
    assert resp.status_code == 200
    resp = await volume_client.get("/v3/volumes/detail", headers=demo.headers)
    assert [v["id"] for v in resp.json()["volumes"]] == [vol["id"]]


async def test_url_project_differs_from_token_is_malformed_url(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    for prefix in ("v3", "v2"):
        resp = await volume_client.get(f"/{prefix}/{admin.project_id}/volumes",
                                       headers=demo.headers)
        assert resp.status_code == 400
        assert resp.json() == {"badRequest": {"message": "Malformed request url", "code": 400}}


async def test_bad_project_segment_and_empty_tenant_are_404(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get("/v3/not_a_project!/volumes", headers=demo.headers)
    assert resp.status_code == 404
    resp = await volume_client.get("/v2//volumes/abc", headers=demo.headers)
    assert resp.status_code == 404


async def test_list_summary_detail_filters_and_pagination(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    ids = [(await create(volume_client, demo, name=f"n{i}", metadata={"k": str(i % 2)}))["id"]
           for i in range(5)]
    base = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.get(base, headers=demo.headers)
    vols = resp.json()["volumes"]
    assert [set(v) for v in vols] == [{"id", "links", "name"}] * 5
    assert [v["id"] for v in vols] == list(reversed(ids))  # created_at desc
    resp = await volume_client.get(f"{base}/detail?name=n3", headers=demo.headers)
    assert [v["id"] for v in resp.json()["volumes"]] == [ids[3]]
    resp = await volume_client.get(f"{base}/detail", params={"metadata": "{'k': '1'}"},
                                   headers=demo.headers)
    assert sorted(v["id"] for v in resp.json()["volumes"]) == sorted([ids[1], ids[3]])
    seen: list[str] = []
    url = f"{base}?limit=2&sort=name:asc"
    while url:
        resp = await volume_client.get(url, headers=demo.headers)
        body = resp.json()
        seen += [v["id"] for v in body["volumes"]]
        links = body.get("volumes_links")
        url = links[0]["href"] if links else ""
        assert len(seen) <= 6
    assert seen == ids
    resp = await volume_client.get(f"{base}?sort_key=name&sort_dir=up", headers=demo.headers)
    assert resp.status_code == 400


async def test_all_tenants_is_ignored_for_members_and_honoured_for_admins(
    volume_client, demo, admin
) -> None:  # type: ignore[no-untyped-def]
    mine = await create(volume_client, demo, name="same")
    theirs = await create(volume_client, admin, name="same")
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes/detail?all_tenants=1&name=same",
                                   headers=demo.headers)
    assert resp.status_code == 200
    assert [v["id"] for v in resp.json()["volumes"]] == [mine["id"]]
    resp = await volume_client.get(f"/v3/{admin.project_id}/volumes/detail?all_tenants=1",
                                   headers=admin.headers)
    assert {v["id"] for v in resp.json()["volumes"]} == {mine["id"], theirs["id"]}


async def test_update_name_description_metadata(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, name="a", metadata={"x": "1"})
    resp = await volume_client.put(
        f"/v3/{demo.project_id}/volumes/{vol['id']}",
        json={"volume": {"display_name": "b", "description": "d", "metadata": {"y": "2"}}},
        headers=demo.headers,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()["volume"]
    assert (body["name"], body["description"], body["metadata"]) == ("b", "d", {"y": "2"})
    assert body["updated_at"] is not None
    resp = await volume_client.put(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                   json={"volume": {"size": 3}}, headers=demo.headers)
    assert resp.status_code == 400


async def test_delete_then_404(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    resp = await volume_client.delete(
        f"/v3/{demo.project_id}/volumes/{vol['id']}?cascade=False&force=False",
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    assert (await show(volume_client, demo, vol["id"])).status_code == 404
    assert not rt.volumes.path(vol["id"]).exists()


async def test_reader_can_read_but_not_create_or_delete(volume_client, demo, reader) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    assert (await show(volume_client, reader, vol["id"])).status_code == 200
    resp = await volume_client.post(f"/v3/{reader.project_id}/volumes",
                                    json={"volume": {"size": 1}}, headers=reader.headers)
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["message"] == (
        "Policy doesn't allow volume:create to be performed."
    )
    resp = await volume_client.delete(f"/v3/{reader.project_id}/volumes/{vol['id']}",
                                      headers=reader.headers)
    assert resp.status_code == 403


@pytest.mark.parametrize(
    ("volume", "fragment"),
    [
        ({"size": 0}, "0 is less than the minimum of 1"),
        ({"size": "x"}, "does not match"),
        ({"size": 1, "bogus": 1}, "Additional properties are not allowed"),
        ({"size": 1, "snapshot_id": "not-a-uuid"}, "is not valid under any of the given"),
        ({"size": 1, "multiattach": True}, "multiattach parameter has been removed"),
        ({"size": 1, "metadata": {"k": 1}}, "is not of type 'string'"),
        ({"size": 1, "availability_zone": "elsewhere"}, "Availability zone 'elsewhere'"),
        ({"name": "nosize"}, "Volume size 'None'"),
    ],
)
async def test_create_rejects_bad_input(volume_client, demo, volume, fragment) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes", json={"volume": volume},
                                    headers=demo.headers)
    assert resp.status_code == 400, resp.text
    assert fragment in resp.json()["badRequest"]["message"]


async def test_unknown_volume_type_is_404(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1, "volume_type": "gold"}},
                                    headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        "Volume type with name gold could not be found."
    )


async def test_types_list_show_default(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/types", headers=demo.headers)
    types = resp.json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"]
    # qos_specs_id is for admins only (access_types_qos_specs_id), as Cinder.
    keys = {"id", "name", "description", "is_public", "extra_specs",
            "os-volume-type-access:is_public"}
    assert set(types[0]) == keys
    resp = await volume_client.get(f"/v3/{admin.project_id}/types", headers=admin.headers)
    assert set(resp.json()["volume_types"][0]) == keys | {"qos_specs_id"}
    resp = await volume_client.get(f"/v3/{demo.project_id}/types/{types[0]['id']}",
                                   headers=demo.headers)
    assert resp.json()["volume_type"] == types[0]
    resp = await volume_client.get(f"/v3/{demo.project_id}/types/default", headers=demo.headers)
    assert resp.json()["volume_type"]["id"] == types[0]["id"]
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1, "volume_type": types[0]["id"]}},
                                    headers=demo.headers)
    assert resp.json()["volume"]["volume_type"] == "__DEFAULT__"
    resp = await volume_client.get(f"/v3/{demo.project_id}/types/nope", headers=demo.headers)
    assert resp.status_code == 404


async def test_v2_routes_serve_volumes_without_version_headers(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(f"/v2/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1}}, headers=demo.headers)
    assert resp.status_code == 202
    assert "OpenStack-API-Version" not in resp.headers
    vol = resp.json()["volume"]
    assert vol["links"][0]["href"].endswith(f"/v2/{demo.project_id}/volumes/{vol['id']}")
    resp = await volume_client.get(f"/v2/{demo.project_id}/volumes/{vol['id']}",
                                   headers=demo.headers)
    assert resp.status_code == 200
    resp = await volume_client.get(f"/v2/{demo.project_id}/messages", headers=demo.headers)
    assert resp.status_code == 404


async def test_fast_read_matches_the_orm_row(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.db import volumes as volumes_db
    from cinderlite.db.models import Volume

    vol = await create(volume_client, demo, name="fast", metadata={"a": "b"})
    await wait_status(volume_client, demo, vol["id"], "available")
    async with rt.transaction() as db:
        await volumes_db.update_fields(db, volume_id=vol["id"], values={
            "image_meta": {"image_id": "x", "size": "3"}, "bootable": True})
    fast = await volumes_db.VolumeRepository(rt.db).get_with_type_name(vol["id"])
    async with rt.sessionmaker() as db:
        slow = await volumes_db.get_with_type_name(db, volume_id=vol["id"])
    assert fast is not None
    assert slow is not None
    assert fast[1] == slow[1] == "__DEFAULT__"
    for column in Volume.__table__.columns:
        assert getattr(fast[0], column.key) == getattr(slow[0], column.key), column.key
    assert fast[0].bootable is True
    assert await volumes_db.VolumeRepository(rt.db).get_with_type_name("nope") is None


async def test_metadata_subresource(volume_client, demo, reader) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, metadata={"a": "1"})
    url = f"/v3/{demo.project_id}/volumes/{vol['id']}/metadata"
    resp = await volume_client.post(url, json={"metadata": {"b": "2"}}, headers=demo.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"metadata": {"a": "1", "b": "2"}}
    resp = await volume_client.get(url, headers=reader.headers)
    assert resp.json() == {"metadata": {"a": "1", "b": "2"}}
    resp = await volume_client.put(f"{url}/b", json={"meta": {"b": "3"}}, headers=demo.headers)
    assert resp.json() == {"meta": {"b": "3"}}
    resp = await volume_client.put(f"{url}/b", json={"meta": {"c": "3"}}, headers=demo.headers)
    assert resp.status_code == 400
    assert (await volume_client.get(f"{url}/b", headers=demo.headers)).json() == {
        "meta": {"b": "3"}}
    assert (await volume_client.delete(f"{url}/a", headers=demo.headers)).status_code == 200
    resp = await volume_client.delete(f"{url}/a", headers=demo.headers)
    assert resp.status_code == 404
    resp = await volume_client.put(url, json={"metadata": {"z": "9"}}, headers=demo.headers)
    assert resp.json() == {"metadata": {"z": "9"}}
    resp = await volume_client.post(url, json={"metadata": {"x": 1}}, headers=demo.headers)
    assert resp.status_code == 400
    resp = await volume_client.post(url, json={"metadata": {"x": "1"}}, headers=reader.headers)
    assert resp.status_code == 403
    shown = (await show(volume_client, demo, vol["id"])).json()["volume"]
    assert shown["metadata"] == {"z": "9"}


async def test_pagination_by_created_at_walks_every_volume_once(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    # The default order is created_at desc: the marker comparison is on timestamps,
    # which the SQLite fast path must compare in the stored text format.
    ids = [(await create(volume_client, demo, name=f"p{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    url = f"/v3/{demo.project_id}/volumes/detail?limit=2"
    while url:
        resp = await volume_client.get(url, headers=demo.headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen += [v["id"] for v in body["volumes"]]
        links = body.get("volumes_links")
        url = links[0]["href"] if links else ""
        assert len(seen) <= 6
    assert seen == list(reversed(ids))


async def test_fast_list_matches_the_orm_list(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.db import volumes as volumes_db

    ids = [(await create(volume_client, demo, name=f"f{i}"))["id"] for i in range(4)]
    async with rt.sessionmaker() as db:
        marker = await volumes_db.get(db, volume_id=ids[2])
        kwargs = {"project_id": demo.project_id, "filters": {}, "limit": 10, "marker": marker,
                  "sort": [("created_at", "desc")]}
        slow = await volumes_db.list_volumes(db, **kwargs)
    del kwargs["marker"]
    fast = await volumes_db.VolumeRepository(rt.db).list(marker_id=ids[2], **kwargs)
    assert fast is not None
    assert [v.id for v, _ in slow] == [ids[1], ids[0]]
    if rt.reader is not None:
        assert [(v.id, v.created_at, t) for v, t in fast] == [
            (v.id, v.created_at, t) for v, t in slow
        ]
