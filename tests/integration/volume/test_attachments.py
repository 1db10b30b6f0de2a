"""The attachments API (3.27, os-complete 3.44), the legacy connection actions
and the microversion changes up to 3.44, over HTTP."""

from __future__ import annotations

import os

from tests.integration.volume.test_volumes import create, wait_status


def _h(who, version: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, "OpenStack-API-Version": f"volume {version}"}


async def _show(client, who, volume_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{who.project_id}/volumes/{volume_id}", headers=who.headers)
    return resp.json()["volume"]


async def test_attachment_lifecycle_with_real_device_path(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    base = f"/v3/{demo.project_id}/attachments"
    # Not below 3.27.
    resp = await volume_client.post(base, headers=_h(demo, "3.26"),
                                    json={"attachment": {"volume_uuid": vol["id"]}})
    assert resp.status_code == 404
    # Reserve without a connector.
    server = "5f0c5a3e-3b6a-4c2c-9d49-0d9d0f3c7a11"
    resp = await volume_client.post(base, headers=_h(demo, "3.27"), json={"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": server}})
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    assert att["status"] == "reserved"
    assert att["instance"] == server
    assert att["connection_info"] == {}
    assert att["attached_at"] == ""
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "reserved"
    # A second reserve for another server is refused (no multi-attach).
    resp = await volume_client.post(base, headers=_h(demo, "3.27"), json={"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": "0c7c2e1e-1d1b-4f3e-8f7f-111111111111"}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vol['id']} status must be available or downloading to "
        "reserve, but the current status is reserved.")
    # Connect: connection_info names the volume's file.
    resp = await volume_client.put(f"{base}/{att['id']}", headers=_h(demo, "3.27"), json={
        "attachment": {"connector": {"host": "here", "mountpoint": "/dev/vdb"}}})
    assert resp.status_code == 200, resp.text
    done = resp.json()["attachment"]
    info = done["connection_info"]
    assert info["driver_volume_type"] == "local"
    assert done["status"] == "attaching"
    assert info["attachment_id"] == att["id"]
    assert done["attach_mode"] == "rw"
    path = info["device_path"]
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, b"written through device_path", 4096)
    finally:
        os.close(fd)
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "attaching"
    # os-complete: 404 below 3.44, 204 at it.
    resp = await volume_client.post(f"{base}/{att['id']}/action", headers=_h(demo, "3.43"),
                                    json={"os-complete": None})
    assert resp.status_code == 404
    resp = await volume_client.post(f"{base}/{att['id']}/action", headers=_h(demo, "3.44"),
                                    json={"os-complete": None})
    assert resp.status_code == 204
    shown = await _show(volume_client, demo, vol["id"])
    assert shown["status"] == "in-use"
    assert [a["attachment_id"] for a in shown["attachments"]] == [att["id"]]
    assert shown["metadata"]["attached_mode"] == "rw"
    # List, detail, show, filters.
    resp = await volume_client.get(base, headers=_h(demo, "3.27"))
    assert resp.json()["attachments"] == [{"id": att["id"], "status": "attached",
                                           "instance": server, "volume_id": vol["id"]}]
    resp = await volume_client.get(f"{base}/detail?status=reserved", headers=_h(demo, "3.27"))
    assert resp.json()["attachments"] == []
    resp = await volume_client.get(f"{base}/{att['id']}", headers=_h(demo, "3.27"))
    assert resp.json()["attachment"]["connection_info"]["device_path"] == path
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.pread(fd, 27, 4096) == b"written through device_path"
    finally:
        os.close(fd)
    # Delete: the volume is available again.
    resp = await volume_client.delete(f"{base}/{att['id']}", headers=_h(demo, "3.27"))
    assert resp.status_code == 200
    assert resp.json() == {"attachments": []}
    shown = await _show(volume_client, demo, vol["id"])
    assert shown["status"] == "available"
    assert shown["attachments"] == []
    resp = await volume_client.get(f"{base}/{att['id']}", headers=_h(demo, "3.27"))
    assert resp.status_code == 404


async def test_legacy_connection_actions(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    act = f"/v3/{demo.project_id}/volumes/{vol['id']}/action"
    resp = await volume_client.post(act, headers=demo.headers, json={"os-reserve": None})
    assert resp.status_code == 202
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "attaching"
    resp = await volume_client.post(act, headers=demo.headers, json={"os-reserve": None})
    assert resp.json()["badRequest"]["message"] == (
        "Invalid volume: Volume status must be available to reserve, but the status is "
        "attaching.")
    resp = await volume_client.post(act, headers=demo.headers, json={
        "os-initialize_connection": {"connector": {"host": "here"}}})
    assert resp.status_code == 200
    info = resp.json()["connection_info"]
    assert info["driver_volume_type"] == "local"
    assert info["data"]["device_path"].endswith(vol["id"])
    resp = await volume_client.post(act, headers=demo.headers, json={"os-unreserve": None})
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "available"
    resp = await volume_client.post(act, headers=demo.headers, json={
        "os-attach": {"mountpoint": "/dev/vdb", "host_name": "h"}})
    assert resp.status_code == 202
    resp = await volume_client.post(act, headers=demo.headers, json={"os-begin_detaching": {}})
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "detaching"
    resp = await volume_client.post(act, headers=demo.headers, json={"os-roll_detaching": {}})
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "in-use"
    resp = await volume_client.post(act, headers=demo.headers, json={
        "os-update_readonly_flag": {"readonly": True}})
    assert resp.status_code == 400
    # Only admins force-detach.
    resp = await volume_client.post(act, headers=demo.headers, json={"os-force_detach": {}})
    assert resp.status_code == 403
    admin_act = f"/v3/{admin.project_id}/volumes/{vol['id']}/action"
    resp = await volume_client.post(admin_act, headers=admin.headers,
                                    json={"os-force_detach": {}})
    assert resp.status_code == 202, resp.text
    shown = await _show(volume_client, demo, vol["id"])
    assert shown["status"] == "available"
    assert shown["metadata"] == {"readonly": "False"}
    resp = await volume_client.post(act, headers=demo.headers, json={
        "os-update_readonly_flag": {"readonly": True}})
    assert resp.status_code == 202
    assert (await _show(volume_client, demo, vol["id"]))["metadata"]["readonly"] == "True"
    resp = await volume_client.post(admin_act, headers=admin.headers,
                                    json={"os-force_delete": {}})
    assert resp.status_code == 202


async def test_microversion_changes_both_sides(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, metadata={"k": "v"})
    await wait_status(volume_client, demo, vol["id"], "available")
    url = f"/v3/{demo.project_id}/volumes/{vol['id']}"
    assert "group_id" not in (await volume_client.get(url, headers=_h(demo, "3.12"))).json()[
        "volume"]
    assert (await volume_client.get(url, headers=_h(demo, "3.13"))).json()["volume"][
        "group_id"] is None
    aurl = f"/v3/{admin.project_id}/volumes/{vol['id']}"
    assert "provider_id" not in (await volume_client.get(aurl, headers=_h(admin, "3.20"))
                                 ).json()["volume"]
    assert "provider_id" in (await volume_client.get(aurl, headers=_h(admin, "3.21"))
                             ).json()["volume"]
    # Summary (3.12, metadata 3.36).
    s = f"/v3/{demo.project_id}/volumes/summary"
    assert (await volume_client.get(s, headers=_h(demo, "3.11"))).status_code == 404
    body = (await volume_client.get(s, headers=_h(demo, "3.12"))).json()["volume-summary"]
    assert body["total_count"] >= 1
    assert "metadata" not in body
    body = (await volume_client.get(s, headers=_h(demo, "3.36"))).json()["volume-summary"]
    assert body["metadata"]["k"] == ["v"]
    # ETags (3.15).
    m = f"{url}/metadata"
    resp = await volume_client.get(m, headers=_h(demo, "3.14"))
    assert "etag" not in resp.headers
    resp = await volume_client.get(m, headers=_h(demo, "3.15"))
    etag = resp.headers["etag"]
    resp = await volume_client.put(m, headers={**_h(demo, "3.15"), "If-Match": "nope"},
                                   json={"metadata": {"k": "w"}})
    assert resp.status_code == 412
    resp = await volume_client.put(m, headers={**_h(demo, "3.15"), "If-Match": etag},
                                   json={"metadata": {"k": "w"}})
    assert resp.status_code == 200
    # Resource filters (3.31) and like filters (3.34, admin).
    lst = f"/v3/{demo.project_id}/volumes"
    assert (await volume_client.get(f"{lst}?foo=1", headers=_h(demo, "3.30"))).status_code == 200
    resp = await volume_client.get(f"{lst}?foo=1", headers=_h(demo, "3.31"))
    assert resp.json()["badRequest"]["message"] == "Invalid filters foo are found in query options."
    name = vol["name"] or ""
    resp = await volume_client.get(f"/v3/{admin.project_id}/volumes?all_tenants=1&status~=vail",
                                   headers=_h(admin, "3.34"))
    assert vol["id"] in [v["id"] for v in resp.json()["volumes"]], name
    rf = await volume_client.get(f"/v3/{demo.project_id}/resource_filters?resource=volume",
                                 headers=_h(demo, "3.33"))
    assert rf.json()["resource_filters"][0]["resource"] == "volume"
    # Force delete (3.23): admins only; ignored below 3.23.
    resp = await volume_client.delete(f"{url}?force=true", headers=_h(demo, "3.23"))
    assert resp.status_code == 403
