"""POST .../volumes/{id}/action: dispatch errors and the non-upload actions."""

from __future__ import annotations

import pytest

from tests.integration.volume.test_volumes import create, show, wait_status

pytestmark = pytest.mark.integration

NO_SUCH = (
    "There is no such action: {}. Verify the request body and Content-Type header and try again."
)


async def _action(client, who, volume_id, body=None, *, content=None, headers=None):  # type: ignore[no-untyped-def]
    url = f"/v3/{who.project_id}/volumes/{volume_id}/action"
    if content is not None:
        return await client.post(url, content=content, headers={**who.headers, **(headers or {})})
    return await client.post(url, json=body, headers=who.headers)


@pytest.mark.parametrize(
    ("content", "ctype", "status", "message"),
    [
        (b"{bad", "application/json", 400, "Malformed request body"),
        (b"{}", "application/json", 400, "Malformed request body"),
        (b'{"os-attach": {}, "os-detach": {}}', "application/json", 400, "Malformed request body"),
        (b'{"os-volume_upload_imagex": {}}', "application/json", 400,
         NO_SUCH.format("os-volume_upload_imagex")),
        (b'{"": {}}', "application/json", 400, NO_SUCH.format("")),
        (b"", "application/json", 400, NO_SUCH.format("None")),
        (b'{"os-detach": {}}', None, 400, NO_SUCH.format("None")),
        (b'{"os-detach": {}}', "text/xml", 415, "Unsupported Content-Type"),
        (b'["os-detach"]', "application/json", 404, None),
    ],
)
async def test_dispatch_errors(volume_client, demo, content, ctype, status, message) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    headers = {"Content-Type": ctype} if ctype else {}
    url = f"/v3/{demo.project_id}/volumes/{vol['id']}/action"
    resp = await volume_client.post(url, content=content, headers={**demo.headers, **headers})
    assert resp.status_code == status, resp.text
    if message is not None:
        assert next(iter(resp.json().values()))["message"] == message


async def test_action_lookup_comes_before_project_check(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{admin.project_id}/volumes/x/action"
    resp = await volume_client.post(url, json={"os-nope": {}}, headers=demo.headers)
    assert resp.json()["badRequest"]["message"] == NO_SUCH.format("os-nope")
    resp = await volume_client.post(url, json={"os-detach": {}}, headers=demo.headers)
    assert resp.json()["badRequest"]["message"] == "Malformed request url"


async def test_attach_detach_cycle(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    resp = await _action(volume_client, demo, vol["id"], {"os-attach": {
        "instance_uuid": "5b1e0f3c-0000-4000-8000-000000000001", "mountpoint": "/dev/vdb",
        "mode": "rw"}})
    assert resp.status_code == 202, resp.text
    body = (await show(volume_client, demo, vol["id"])).json()["volume"]
    assert body["status"] == "in-use"
    (att,) = body["attachments"]
    assert att["server_id"] == "5b1e0f3c-0000-4000-8000-000000000001"
    assert att["device"] == "/dev/vdb"
    assert att["volume_id"] == vol["id"]
    # attached: cannot delete, cannot attach again
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"].startswith(
        "Invalid volume: Volume status must be available or error")
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-attach": {"host_name": "h", "mountpoint": "/dev/vdc"}})
    assert resp.status_code == 400
    resp = await _action(volume_client, demo, vol["id"], {"os-detach": {}})
    assert resp.status_code == 202, resp.text
    body = (await show(volume_client, demo, vol["id"])).json()["volume"]
    assert body["status"] == "available"
    assert body["attachments"] == []
    resp = await _action(volume_client, demo, vol["id"], {"os-detach": None})
    assert resp.status_code == 400


async def test_attach_schema(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    resp = await _action(volume_client, demo, vol["id"], {"os-attach": {"mountpoint": "/x"}})
    assert resp.status_code == 400
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-attach": {"host_name": "h", "mountpoint": "/x", "mode": "rx"}})
    assert resp.status_code == 400
    assert "'rx' is not one of ['rw', 'ro']" in resp.json()["badRequest"]["message"]


async def test_detach_while_uploading_keeps_status(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    await _action(volume_client, demo, vol["id"],
                  {"os-attach": {"host_name": "h", "mountpoint": "/dev/vdb"}})
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/volumes/{vol['id']}/action",
        json={"os-reset_status": {"status": "uploading"}}, headers=admin.headers)
    assert resp.status_code == 202, resp.text
    resp = await _action(volume_client, demo, vol["id"], {"os-detach": {}})
    assert resp.status_code == 202
    body = (await show(volume_client, demo, vol["id"])).json()["volume"]
    assert body["status"] == "uploading"
    assert body["attachments"] == []


async def test_reset_status_is_admin_only(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    resp = await _action(volume_client, demo, vol["id"], {"os-reset_status": {"status": "error"}})
    assert resp.status_code == 403
    url = f"/v3/{admin.project_id}/volumes/{vol['id']}/action"
    resp = await volume_client.post(url, json={"os-reset_status": {"status": "bogus"}},
                                    headers=admin.headers)
    assert resp.status_code == 400
    resp = await volume_client.post(url, json={"os-reset_status": {"status": "error"}},
                                    headers=admin.headers)
    assert resp.status_code == 202
    assert (await show(volume_client, demo, vol["id"])).json()["volume"]["status"] == "error"


async def test_extend_and_set_bootable(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    resp = await _action(volume_client, demo, vol["id"], {"os-extend": {"new_size": 1}})
    assert resp.status_code == 400
    assert "New size for extend must be greater" in resp.json()["badRequest"]["message"]
    resp = await _action(volume_client, demo, vol["id"], {"os-extend": {"new_size": 2}})
    assert resp.status_code == 202
    assert (await show(volume_client, demo, vol["id"])).json()["volume"]["size"] == 2
    assert rt.volumes.path(vol["id"]).stat().st_size == 2 << 30
    resp = await _action(volume_client, demo, vol["id"], {"os-set_bootable": {"bootable": "yes"}})
    assert resp.status_code == 200
    assert (await show(volume_client, demo, vol["id"])).json()["volume"]["bootable"] == "true"
    resp = await _action(volume_client, demo, vol["id"], {"os-set_bootable": {"bootable": 3}})
    assert resp.status_code == 400


async def test_actions_on_missing_volume_are_404(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await _action(volume_client, demo, "5b1e0f3c-0000-4000-8000-000000000009",
                         {"os-detach": {}})
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        "Volume 5b1e0f3c-0000-4000-8000-000000000009 could not be found."
    )
