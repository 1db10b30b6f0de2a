"""The operator's discovery APIs over the ASGI volume API: availability zones,
os-services (list, enable, disable with a reason, freeze/thaw, the heartbeat),
scheduler-stats pools with capacity read from the data directory's file
system, capabilities, os-hosts and extensions; and what a disabled volume
service does to new volumes."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

from cinderlite.db.models import BlockService
from tests.conftest import wait_for
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

HOST = "node-1"
VOLUME_HOST = f"{HOST}@file"
POOL = f"{HOST}@file#file"
GiB = 1 << 30


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    return make_settings(tmp_path, database_url, service_host=HOST,
                         storage_availability_zone="zone-a")


async def _services(client, admin, query: str = "", version: str = "3.0") -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{admin.project_id}/os-services{query}",
                            headers={**admin.headers, **_v(version)})
    assert resp.status_code == 200, resp.text
    return resp.json()["services"]  # type: ignore[no-any-return]


async def _put(client, who, action: str, body: dict) -> object:  # type: ignore[no-untyped-def]
    return await client.put(f"/v3/{who.project_id}/os-services/{action}", json=body,
                            headers=who.headers)


async def test_zones_from_configuration(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/os-availability-zone",
                                   headers=demo.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"availabilityZoneInfo": [
        {"zoneName": "zone-a", "zoneState": {"available": True}}
    ]}


async def test_volume_gets_the_zone_and_unknown_zone_is_400(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    assert vol["availability_zone"] == "zone-a"
    vol = await create(volume_client, demo, availability_zone="zone-a")
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes",
        json={"volume": {"size": 1, "availability_zone": "nova"}}, headers=demo.headers,
    )
    assert resp.status_code == 400
    assert resp.json() == {"badRequest": {
        "code": 400, "message": "Availability zone 'nova' is invalid."}}
    shown = await volume_client.get(f"/v3/{admin.project_id}/volumes/{vol['id']}",
                                    headers=admin.headers)
    assert shown.json()["volume"]["os-vol-host-attr:host"] == POOL


async def test_list_services_with_filters_and_versions(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    services = await _services(volume_client, admin)
    assert {(s["binary"], s["host"]) for s in services} == {
        ("cinder-scheduler", HOST), ("cinder-volume", VOLUME_HOST), ("cinder-backup", HOST),
    }
    volume = next(s for s in services if s["binary"] == "cinder-volume")
    assert volume == {
        "binary": "cinder-volume", "host": VOLUME_HOST, "zone": "zone-a", "status": "enabled",
        "state": "up", "updated_at": volume["updated_at"], "disabled_reason": None,
        "replication_status": "disabled", "active_backend_id": None, "frozen": False,
    }
    datetime.fromisoformat(volume["updated_at"])
    scheduler = next(s for s in services if s["binary"] == "cinder-scheduler")
    assert set(scheduler) == {"binary", "host", "zone", "status", "state", "updated_at",
                              "disabled_reason"}
    # host matches the host, its backends and pools; binary exactly.
    assert len(await _services(volume_client, admin, f"?host={HOST}")) == 3
    only = await _services(volume_client, admin, f"?host={HOST}&binary=cinder-volume")
    assert [s["host"] for s in only] == [VOLUME_HOST]
    assert [s["binary"] for s in await _services(volume_client, admin,
                                                 f"?host={VOLUME_HOST}")] == ["cinder-volume"]
    assert await _services(volume_client, admin, "?host=other") == []
    # 3.7 adds cluster; backend_state comes at 3.49 (above the served maximum).
    assert (await _services(volume_client, admin, version="3.7"))[0]["cluster"] is None
    assert "cluster" not in (await _services(volume_client, admin, version="3.6"))[0]


async def test_services_are_admin_only(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/os-services", headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["message"] == (
        "Policy doesn't allow volume_extension:services:index to be performed."
    )
    resp = await _put(volume_client, demo, "disable",
                      {"host": VOLUME_HOST, "binary": "cinder-volume"})
    assert resp.status_code == 403  # type: ignore[attr-defined]


async def test_heartbeat_updates_the_row(rt, volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    before = await _services(volume_client, admin, "?binary=cinder-backup")
    async with rt.transaction() as db:
        row = (await db.execute(
            BlockService.__table__.select().where(BlockService.binary == "cinder-backup")
        )).one()
        old_count = row.report_count
    await rt.services.hosts.heartbeat()
    after = await _services(volume_client, admin, "?binary=cinder-backup")
    assert after[0]["updated_at"] >= before[0]["updated_at"]
    async with rt.transaction() as db:
        row = (await db.execute(
            BlockService.__table__.select().where(BlockService.binary == "cinder-backup")
        )).one()
    assert row.report_count == old_count + 1


async def test_stale_heartbeat_is_down(rt, volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    async with rt.transaction() as db:
        await db.execute(BlockService.__table__.update().values(
            updated_at=datetime(2020, 1, 1), created_at=datetime(2020, 1, 1)))
    states = {s["binary"]: s["state"] for s in await _services(volume_client, admin)}
    assert states == {"cinder-volume": "down", "cinder-scheduler": "down",
                      "cinder-backup": "down"}
    pools = await volume_client.get(f"/v3/{admin.project_id}/scheduler-stats/get_pools",
                                    headers=admin.headers)
    assert pools.json() == {"pools": []}


async def test_disable_with_reason_then_enable(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await _put(volume_client, admin, "disable-log-reason", {
        "host": VOLUME_HOST, "binary": "cinder-volume", "disabled_reason": "maintenance"})
    assert resp.status_code == 200, resp.text  # type: ignore[attr-defined]
    assert resp.json() == {  # type: ignore[attr-defined]
        "host": VOLUME_HOST, "service": "", "binary": "cinder-volume", "status": "disabled",
        "disabled": True, "disabled_reason": "maintenance"}
    vol = (await _services(volume_client, admin, "?binary=cinder-volume"))[0]
    assert (vol["status"], vol["disabled_reason"]) == ("disabled", "maintenance")
    zones = await volume_client.get(f"/v3/{admin.project_id}/os-availability-zone",
                                    headers=admin.headers)
    assert zones.json()["availabilityZoneInfo"][0]["zoneState"] == {"available": False}
    resp = await _put(volume_client, admin, "enable",
                      {"host": VOLUME_HOST, "service": "cinder-volume"})
    assert resp.json() == {  # type: ignore[attr-defined]
        "host": VOLUME_HOST, "service": "cinder-volume", "binary": "", "status": "enabled",
        "disabled": False}
    vol = (await _services(volume_client, admin, "?binary=cinder-volume"))[0]
    assert (vol["status"], vol["disabled_reason"]) == ("enabled", None)


@pytest.mark.parametrize(("action", "body", "status", "message"), [
    ("enable", {"host": "invalid_host", "binary": "cinder-volume"}, 404,
     "Service cinder-volume could not be found on host invalid_host."),
    ("disable", {"host": HOST, "binary": "invalid_binary"}, 404,
     "Service invalid_binary could not be found on host node-1."),
    ("disable", {"binary": "cinder-volume"}, 400,
     "Invalid input received: Host field is missing."),
    ("disable", {"host": HOST}, 400, None),
    ("disable-log-reason", {"host": HOST, "binary": "cinder-backup", "disabled_reason": None},
     400, "Invalid input for field/attribute disabled_reason. Value: None. "
          "None is not of type 'string'"),
    ("disable-log-reason", {"host": HOST, "binary": "cinder-backup", "disabled_reason": "  "},
     400, "Invalid input received: disabled_reason has a minimum character requirement of 1."),
    ("freeze", {"host": "invalid_host"}, 400,
     "Invalid input received: No service found with host=invalid_host"),
    ("thaw", {"host": "invalid_host"}, 400,
     "Invalid input received: No service found with host=invalid_host"),
    ("nope", {}, 404, "Unknown action"),
])
async def test_service_update_refusals(volume_client, admin, action, body, status, message) -> None:  # type: ignore[no-untyped-def]
    resp = await _put(volume_client, admin, action, body)
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    fault = next(iter(resp.json().values()))  # type: ignore[attr-defined]
    if message is not None:
        assert fault["message"] == message
    services = await _services(volume_client, admin)
    assert all(s["status"] == "enabled" for s in services)
    assert all(not s.get("frozen", False) for s in services)


async def test_disabled_volume_service_fails_new_volumes(rt, volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await _put(volume_client, admin, "disable",
                      {"host": VOLUME_HOST, "binary": "cinder-volume"})
    assert resp.status_code == 200  # type: ignore[attr-defined]
    vol = await create(volume_client, demo)
    assert vol["status"] == "creating"
    failed = await wait_status(volume_client, demo, vol["id"], "error")
    assert failed["availability_zone"] == "zone-a"
    msgs = await volume_client.get(
        f"/v3/{demo.project_id}/messages?resource_uuid={vol['id']}",
        headers={**demo.headers, **_v("3.3")},
    )
    [message] = msgs.json()["messages"]
    assert message["user_message"] == (
        "schedule allocate volume:Could not find any available weighted backend.")
    assert message["event_id"] == "VOLUME_VOLUME_001_003"
    assert not rt.volumes.path(vol["id"]).exists()  # type: ignore[attr-defined]
    pools = await volume_client.get(f"/v3/{admin.project_id}/scheduler-stats/get_pools",
                                    headers=admin.headers)
    assert pools.json() == {"pools": []}
    await _put(volume_client, admin, "enable", {"host": VOLUME_HOST, "binary": "cinder-volume"})
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")


async def test_freeze_and_thaw(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await _put(volume_client, admin, "freeze", {"host": HOST})
    assert resp.status_code == 200, resp.text  # type: ignore[attr-defined]
    assert (await _services(volume_client, admin, "?binary=cinder-volume"))[0]["frozen"]
    again = await _put(volume_client, admin, "freeze", {"host": HOST})
    assert again.status_code == 400  # type: ignore[attr-defined]
    assert again.json()["badRequest"]["message"] == (  # type: ignore[attr-defined]
        "Invalid input received: No service could be changed: frozen in "
        f"['{VOLUME_HOST}'] must be False to failover.")
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "error")
    resp = await _put(volume_client, admin, "thaw", {"host": VOLUME_HOST})
    assert resp.status_code == 200  # type: ignore[attr-defined]
    assert not (await _services(volume_client, admin, "?binary=cinder-volume"))[0]["frozen"]


async def test_pools_capacity_from_the_file_system(rt, volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await wait_status(volume_client, demo, (await create(volume_client, demo, size=3))["id"],
                      "available")
    resp = await volume_client.get(f"/v3/{admin.project_id}/scheduler-stats/get_pools",
                                   headers=admin.headers)
    assert resp.json() == {"pools": [{"name": POOL}]}
    resp = await volume_client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?detail=true", headers=admin.headers)
    [pool] = resp.json()["pools"]
    caps = pool["capabilities"]
    st = os.statvfs(rt.settings.volumes_dir)
    assert caps["total_capacity_gb"] == round(st.f_blocks * st.f_frsize / GiB, 2)
    assert abs(caps["free_capacity_gb"] - st.f_bavail * st.f_frsize / GiB) < 0.5
    assert caps["allocated_capacity_gb"] == 3
    assert caps["provisioned_capacity_gb"] == 3
    assert caps["total_volumes"] == 1
    assert caps["reserved_percentage"] == 0
    assert caps["thin_provisioning_support"] is True
    assert caps["max_over_subscription_ratio"] == 20.0
    assert (caps["volume_backend_name"], caps["storage_protocol"], caps["vendor_name"]) == (
        "file", "local", "Open Source")
    assert caps["driver_version"]


async def test_pool_filters_and_refusals(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{admin.project_id}/scheduler-stats/get_pools"

    async def names(query: str, version: str) -> list[str]:
        resp = await volume_client.get(url + query, headers={**admin.headers, **_v(version)})
        assert resp.status_code == 200, resp.text
        return [p["name"] for p in resp.json()["pools"]]

    # Filters are read from 3.28 on; below, ignored.
    assert await names("?name=other", "3.27") == [POOL]
    assert await names("?name=other", "3.28") == []
    assert await names(f"?name={POOL.replace('#', '%23')}", "3.28") == [POOL]
    assert await names("?storage_protocol=local", "3.28") == [POOL]
    assert await names("?thin_provisioning_support=False", "3.28") == []
    # From 3.31 only the configured pool filters (name, volume_type), admins too.
    resp = await volume_client.get(url + "?storage_protocol=local",
                                   headers={**admin.headers, **_v("3.31")})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid filters storage_protocol are found in query options.")
    assert await names("?detail=true&name=other", "3.31") == []
    # volume_type from 3.35: an unknown type is 404.
    resp = await volume_client.get(url + "?volume_type=nope",
                                   headers={**admin.headers, **_v("3.35")})
    assert resp.status_code == 404
    assert await names("?volume_type=__DEFAULT__", "3.35") == [POOL]
    resp = await volume_client.get(url + "?detail=maybe", headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Value 'maybe' for 'detail' is not a boolean."
    resp = await volume_client.get(f"/v3/{demo.project_id}/scheduler-stats/get_pools",
                                   headers=demo.headers)
    assert resp.status_code == 403


async def test_capabilities(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    for name in (VOLUME_HOST, POOL.replace("#", "%23")):
        resp = await volume_client.get(f"/v3/{admin.project_id}/capabilities/{name}",
                                       headers=admin.headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["namespace"] == f"OS::Storage::Capabilities::{VOLUME_HOST}"
        assert (body["vendor_name"], body["volume_backend_name"], body["storage_protocol"]) == (
            "Open Source", "file", "local")
        assert set(body["properties"]) == {
            "thin_provisioning", "compression", "qos", "replication_enabled"}
    resp = await volume_client.get(f"/v3/{admin.project_id}/capabilities/elsewhere",
                                   headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == "Can't find service: elsewhere"
    resp = await volume_client.get(f"/v3/{demo.project_id}/capabilities/{VOLUME_HOST}",
                                   headers=demo.headers)
    assert resp.status_code == 403


async def test_hosts_list_and_show(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await wait_status(volume_client, demo, (await create(volume_client, demo, size=2))["id"],
                      "available")
    resp = await volume_client.get(f"/v3/{admin.project_id}/os-hosts", headers=admin.headers)
    hosts = resp.json()["hosts"]
    assert {(h["host_name"], h["service"]) for h in hosts} == {
        (HOST, "cinder-scheduler"), (VOLUME_HOST, "cinder-volume"), (HOST, "cinder-backup")}
    assert all(h["zone"] == "zone-a" and h["service-status"] == "available"
               and h["service-state"] == "enabled" for h in hosts)
    resp = await volume_client.get(f"/v3/{admin.project_id}/os-hosts/{VOLUME_HOST}",
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    total, mine = resp.json()["host"]
    assert total["resource"] == {"host": VOLUME_HOST, "project": "(total)", "volume_count": "1",
                                 "total_volume_gb": "2", "snapshot_count": "0",
                                 "total_snapshot_gb": "0"}
    assert mine["resource"]["project"] == demo.project_id
    resp = await volume_client.get(f"/v3/{admin.project_id}/os-hosts/nowhere",
                                   headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        "Service cinder-volume could not be found on host nowhere.")
    # A disabled service leaves the list.
    await _put(volume_client, admin, "disable", {"host": HOST, "binary": "cinder-backup"})
    resp = await volume_client.get(f"/v3/{admin.project_id}/os-hosts", headers=admin.headers)
    assert {h["service"] for h in resp.json()["hosts"]} == {"cinder-scheduler", "cinder-volume"}
    resp = await volume_client.get(f"/v3/{demo.project_id}/os-hosts", headers=demo.headers)
    assert resp.status_code == 403


async def test_extensions(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/extensions", headers=demo.headers)
    assert resp.status_code == 200
    exts = {e["alias"]: e for e in resp.json()["extensions"]}
    assert exts["os-hosts"] == {
        "name": "Hosts", "alias": "os-hosts", "description": "Admin-only host administration.",
        "updated": "2011-06-29T00:00:00+00:00", "links": []}
    assert {"os-services", "os-availability-zone", "scheduler-stats", "capabilities",
            "backups", "os-volume-transfer", "qos-specs"} <= set(exts)
    assert exts["qos-specs"]["name"] == "Qos_specs_manage"
    # Not served: not listed.
    assert not {"os-quota-sets", "os-types-manage", "cgsnapshots"} & set(exts)
    resp = await volume_client.get("/v3/extensions/os-services", headers=demo.headers)
    assert resp.json()["extension"]["name"] == "Services"
    resp = await volume_client.get("/v3/extensions/os-quota-sets", headers=demo.headers)
    assert resp.status_code == 404


async def test_set_log_and_get_log(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    import logging

    logger = logging.getLogger("cinderlite.hosts")
    before = logger.level
    url = f"/v3/{admin.project_id}/os-services"
    headers = {**admin.headers, **_v("3.32")}
    try:
        resp = await volume_client.put(f"{url}/set-log", headers=headers, json={
            "binary": "*", "prefix": "cinderlite.hosts", "level": "debug"})
        assert resp.status_code == 202, resp.text
        assert logger.level == logging.DEBUG
        resp = await volume_client.put(f"{url}/get-log", headers=headers, json={
            "prefix": "cinderlite.hosts"})
        assert resp.status_code == 200, resp.text
        entries = resp.json()["log_levels"]
        assert [(e["host"], e["binary"]) for e in entries] == [
            (HOST, "cinder-api"), (HOST, "cinder-scheduler"), (VOLUME_HOST, "cinder-volume"),
            (HOST, "cinder-backup")]
        assert all(e["levels"] == {"cinderlite.hosts": "DEBUG"} for e in entries)
        resp = await volume_client.put(f"{url}/get-log", headers=headers, json={
            "binary": "cinder-volume", "server": HOST, "prefix": "cinderlite.hosts"})
        assert [e["binary"] for e in resp.json()["log_levels"]] == ["cinder-volume"]
    finally:
        logger.setLevel(before)
    for body, message in (
        ({"level": "loud"}, "Invalid input received: loud is not a valid log level."),
        ({"level": None}, "Invalid input received:  is not a valid log level."),
        ({"binary": "nova-compute", "level": "INFO"}, None),
    ):
        resp = await volume_client.put(f"{url}/set-log", headers=headers, json=body)
        assert resp.status_code == 400, resp.text
        if message:
            assert resp.json()["badRequest"]["message"] == message
    # Below 3.32 there is no such action; a member may not.
    resp = await volume_client.put(f"{url}/get-log", headers=admin.headers, json={})
    assert resp.status_code == 404
    resp = await volume_client.put(f"/v3/{demo.project_id}/os-services/get-log",
                                   headers={**demo.headers, **_v("3.32")}, json={})
    assert resp.status_code == 403


async def test_disabled_backup_service_refuses_backups(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.volume.test_backups import _backup, _backup_status

    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    made = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, made["id"], "available")
    await _put(volume_client, admin, "disable", {"host": HOST, "binary": "cinder-backup"})
    resp = await volume_client.post(f"/v3/{demo.project_id}/backups",
                                    json={"backup": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 503, resp.text
    assert resp.json() == {"serviceUnavailable": {
        "code": 503, "message": "Service cinder-backup could not be found."}}
    # Nothing was changed: the volume is still available, no backup was added.
    assert (await wait_status(volume_client, demo, vol["id"], "available"))["id"] == vol["id"]
    listed = await volume_client.get(f"/v3/{demo.project_id}/backups", headers=demo.headers)
    assert [b["id"] for b in listed.json()["backups"]] == [made["id"]]
    for method, path, body in (
        ("POST", f"/backups/{made['id']}/restore", {"restore": {"volume_id": vol["id"]}}),
        ("DELETE", f"/backups/{made['id']}", None),
    ):
        resp = await volume_client.request(method, f"/v3/{demo.project_id}{path}", json=body,
                                           headers=demo.headers)
        assert resp.status_code == 404, resp.text
        assert resp.json()["itemNotFound"]["message"] == (
            "Service cinder-backup could not be found.")
    await _put(volume_client, admin, "enable", {"host": HOST, "binary": "cinder-backup"})
    resp = await volume_client.delete(f"/v3/{demo.project_id}/backups/{made['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202


async def test_frozen_backend_refuses_modifications(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    frozen = ("Invalid input received: Modification operations are not allowed on frozen "
              "storage backends.")
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    snaps = f"/v3/{demo.project_id}/snapshots"
    resp = await volume_client.post(snaps, json={"snapshot": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    snap = resp.json()["snapshot"]

    async def snapshot_ready():  # type: ignore[no-untyped-def]
        shown = await volume_client.get(f"{snaps}/{snap['id']}", headers=demo.headers)
        return shown.json()["snapshot"]["status"] == "available" or None

    await wait_for(snapshot_ready)
    assert (await _put(volume_client, admin, "freeze", {"host": HOST})).status_code == 200  # type: ignore[attr-defined]
    try:
        unplaced = await create(volume_client, demo)
        await wait_status(volume_client, demo, unplaced["id"], "error")
        for method, url, body in (
            ("DELETE", f"/v3/{demo.project_id}/volumes/{vol['id']}", None),
            ("POST", snaps, {"snapshot": {"volume_id": vol["id"]}}),
            ("DELETE", f"{snaps}/{snap['id']}", None),
        ):
            resp = await volume_client.request(method, url, json=body, headers=demo.headers)
            assert resp.status_code == 400, (method, url, resp.text)
            assert resp.json()["badRequest"]["message"] == frozen
        # What the scheduler never placed is not on the backend: it may go.
        resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{unplaced['id']}",
                                          headers=demo.headers)
        assert resp.status_code == 202, resp.text
    finally:
        await _put(volume_client, admin, "thaw", {"host": HOST})
    resp = await volume_client.delete(f"{snaps}/{snap['id']}", headers=demo.headers)
    assert resp.status_code == 202, resp.text


async def test_each_role_keeps_only_its_own_services_up(rt, volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    # `serve --role api` schedules; `serve --role worker` runs the volume and
    # backup services. With API processes only, the other two go down, and a new
    # volume fails as Cinder's scheduler fails it when no backend is up.
    from cinderlite.domain import hosts as H

    await rt.services.hosts.stop()
    async with rt.transaction() as db:
        await db.execute(BlockService.__table__.update().values(
            updated_at=datetime(2020, 1, 1), created_at=datetime(2020, 1, 1)))
    await rt.services.hosts.start(H.ROLE_BINARIES["api"])
    states = {s["binary"]: s["state"] for s in await _services(volume_client, admin)}
    assert states == {"cinder-volume": "down", "cinder-scheduler": "up",
                      "cinder-backup": "down"}
    vol = await create(volume_client, admin, size=1)
    await wait_status(volume_client, admin, vol["id"], "error")

    await rt.services.hosts.stop()
    await rt.services.hosts.start(H.ROLE_BINARIES["worker"])
    states = {s["binary"]: s["state"] for s in await _services(volume_client, admin)}
    assert states == {"cinder-volume": "up", "cinder-scheduler": "up",
                      "cinder-backup": "up"}
    vol = await create(volume_client, admin, size=1)
    await wait_status(volume_client, admin, vol["id"], "available")
