"""Multiattach volumes (a type whose extra spec `multiattach` is "<is> True"),
the attach mode in the attachment body (3.54), and the volume's statuses with
several attachments, over HTTP."""

from __future__ import annotations

import os
import uuid

import pytest

from cinderlite.api.volume import versions
from cinderlite.api.volume.context import ApiVersion
from cinderlite.db.models import VolumeType
from cinderlite.domain.clock import utcnow
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

SERVER_A = "5f0c5a3e-3b6a-4c2c-9d49-0d9d0f3c7a11"
SERVER_B = "0c7c2e1e-1d1b-4f3e-8f7f-111111111111"


def _h(who, version: str = "3.44") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, "OpenStack-API-Version": f"volume {version}"}


async def _type(rt, name: str, specs: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    type_id = str(uuid.uuid4())
    async with rt.db.write() as db:
        db.add(VolumeType(id=type_id, name=name, description=None, is_public=True,
                          extra_specs=specs, created_at=utcnow()))
    return type_id


async def _volume(client, who, volume_type: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    body: dict = {"size": 1}  # type: ignore[type-arg]
    if volume_type is not None:
        body["volume_type"] = volume_type
    resp = await client.post(f"/v3/{who.project_id}/volumes", json={"volume": body},
                             headers=who.headers)
    assert resp.status_code == 202, resp.text
    return await wait_status(client, who, resp.json()["volume"]["id"], "available")


async def _attach(client, who, volume_id: str, server: str, **extra):  # type: ignore[no-untyped-def]
    version = extra.pop("version", "3.44")
    return await client.post(f"/v3/{who.project_id}/attachments", headers=_h(who, version),
                             json={"attachment": {"volume_uuid": volume_id,
                                                  "instance_uuid": server, **extra}})


async def _connect_and_complete(client, who, att_id: str, host: str) -> dict:  # type: ignore[no-untyped-def]
    base = f"/v3/{who.project_id}/attachments/{att_id}"
    resp = await client.put(base, headers=_h(who), json={
        "attachment": {"connector": {"host": host, "mountpoint": "/dev/vdb"}}})
    assert resp.status_code == 200, resp.text
    resp = await client.post(f"{base}/action", headers=_h(who), json={"os-complete": None})
    assert resp.status_code == 204, resp.text
    return resp


async def _show(client, who, volume_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{who.project_id}/volumes/{volume_id}", headers=who.headers)
    return resp.json()["volume"]


async def test_a_multiattach_volume_takes_two_servers(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await _type(rt, "shared", {"multiattach": "<is> True"})
    vol = await _volume(volume_client, demo, "shared")
    assert vol["multiattach"] is True
    first = (await _attach(volume_client, demo, vol["id"], SERVER_A)).json()["attachment"]
    await _connect_and_complete(volume_client, demo, first["id"], "host-a")
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "in-use"
    # In use, it is reserved again for a second server; both connect to the same file.
    resp = await _attach(volume_client, demo, vol["id"], SERVER_B)
    assert resp.status_code == 200, resp.text
    second = resp.json()["attachment"]
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "reserved"
    await _connect_and_complete(volume_client, demo, second["id"], "host-b")
    shown = await _show(volume_client, demo, vol["id"])
    assert shown["status"] == "in-use"
    assert sorted(a["attachment_id"] for a in shown["attachments"]) == sorted(
        [first["id"], second["id"]])
    infos = []
    for att in (first, second):
        resp = await volume_client.get(f"/v3/{demo.project_id}/attachments/{att['id']}",
                                       headers=_h(demo))
        infos.append(resp.json()["attachment"]["connection_info"]["device_path"])
    assert infos[0] == infos[1]
    fd = os.open(infos[0], os.O_RDWR)
    try:
        os.pwrite(fd, b"from a", 0)
        assert os.pread(fd, 6, 0) == b"from a"
    finally:
        os.close(fd)
    # Detaching one leaves it in use; the last one leaves it available.
    resp = await volume_client.delete(f"/v3/{demo.project_id}/attachments/{first['id']}",
                                      headers=_h(demo))
    assert resp.status_code == 200
    shown = await _show(volume_client, demo, vol["id"])
    assert shown["status"] == "in-use"
    assert [a["attachment_id"] for a in shown["attachments"]] == [second["id"]]
    resp = await volume_client.delete(f"/v3/{demo.project_id}/attachments/{second['id']}",
                                      headers=_h(demo))
    assert (await _show(volume_client, demo, vol["id"]))["status"] == "available"


async def test_a_plain_volume_takes_one_server(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    # No multiattach spec: "<is> False" would ask the backend, which reports
    # multiattach True, for what it lacks (Cinder's capabilities filter fails it).
    await _type(rt, "notshared", {})
    vol = await _volume(volume_client, demo, "notshared")
    assert vol["multiattach"] is False
    first = (await _attach(volume_client, demo, vol["id"], SERVER_A)).json()["attachment"]
    await _connect_and_complete(volume_client, demo, first["id"], "host-a")
    resp = await _attach(volume_client, demo, vol["id"], SERVER_B)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vol['id']} status must be available or downloading to "
        "reserve, but the current status is in-use.")
    # The same server moving hosts may reserve again, but not connect twice.
    resp = await _attach(volume_client, demo, vol["id"], SERVER_A)
    assert resp.status_code == 200, resp.text
    again = resp.json()["attachment"]
    resp = await volume_client.put(
        f"/v3/{demo.project_id}/attachments/{again['id']}", headers=_h(demo),
        json={"attachment": {"connector": {"host": "host-b"}}})
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == (
        f"duplicate connectors detected on volume {vol['id']}")
    # The body's multiattach flag is gone from Cinder's API.
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes", headers=demo.headers,
                                    json={"volume": {"size": 1, "multiattach": True}})
    assert resp.status_code == 400
    assert "multiattach parameter has been removed" in resp.json()["badRequest"]["message"]


@pytest.fixture
def served_3_54(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raise the served maximum for this test only, if it is below 3.54."""
    if ApiVersion(3, 54) > versions.MAX:
        monkeypatch.setattr(versions, "MAX", ApiVersion(3, 54))


async def test_attach_mode_at_3_54(volume_client, demo, rt, served_3_54) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    # Below 3.54 the mode is not part of the body.
    resp = await _attach(volume_client, demo, vol["id"], SERVER_A, mode="ro", version="3.53")
    assert resp.status_code == 400
    resp = await _attach(volume_client, demo, vol["id"], SERVER_A, mode="rx", version="3.54")
    assert resp.status_code == 400
    assert "'rx' is not one of ['rw', 'ro']" in resp.json()["badRequest"]["message"]
    resp = await _attach(volume_client, demo, vol["id"], SERVER_A, mode="ro", version="3.54")
    assert resp.status_code == 200, resp.text
    att = resp.json()["attachment"]
    assert att["attach_mode"] == "ro"
    # The mode given wins over the connector's.
    resp = await volume_client.put(
        f"/v3/{demo.project_id}/attachments/{att['id']}", headers=_h(demo, "3.54"),
        json={"attachment": {"connector": {"host": "h", "mode": "rw"}}})
    assert resp.status_code == 200, resp.text
    done = resp.json()["attachment"]
    assert done["attach_mode"] == "ro"
    assert done["connection_info"]["access_mode"] == "ro"
