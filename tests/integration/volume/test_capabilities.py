"""A volume type's extra specs against the backend's capabilities (Cinder's
CapabilitiesFilter): a type asking for what the backend lacks makes volumes
that fail scheduling with a user message; retype to such a type changes
nothing; get_pools with that type lists no pool."""

from __future__ import annotations

import pytest

from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

MICRO = {"OpenStack-API-Version": "volume 3.3"}


async def _type(client, who, name: str, specs: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/types",
                             json={"volume_type": {"name": name, "extra_specs": specs}},
                             headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["volume_type"]  # type: ignore[no-any-return]


async def _volume(client, who, type_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/volumes",
                             json={"volume": {"size": 1, "volume_type": type_id}},
                             headers=who.headers)
    assert resp.status_code == 202, resp.text
    return resp.json()["volume"]  # type: ignore[no-any-return]


async def test_unmet_extra_specs_fail_scheduling(rt, volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    bogus = await _type(volume_client, admin, "bogus",
                        {"storage_protocol": "storage_protocol-x", "vendor_name": "v-x"})
    vol = await _volume(volume_client, admin, bogus["id"])
    await wait_status(volume_client, admin, vol["id"], "error")
    msgs = await volume_client.get(
        f"/v3/{admin.project_id}/messages?resource_uuid={vol['id']}",
        headers={**admin.headers, **MICRO})
    [message] = msgs.json()["messages"]
    assert message["event_id"] == "VOLUME_VOLUME_001_003"
    assert message["user_message"] == (
        "schedule allocate volume:Could not find any available weighted backend.")
    assert not rt.volumes.path(vol["id"]).exists()
    # Another backend's name is unmet too.
    other = await _type(volume_client, admin, "other-backend", {"volume_backend_name": "nfs-1"})
    vol2 = await _volume(volume_client, admin, other["id"])
    await wait_status(volume_client, admin, vol2["id"], "error")


async def test_met_extra_specs_are_placed(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    caps = (await volume_client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?detail=true",
        headers=admin.headers)).json()["pools"][0]["capabilities"]
    good = await _type(volume_client, admin, "good", {
        "storage_protocol": caps["storage_protocol"],
        "capabilities:vendor_name": caps["vendor_name"],
        "volume_backend_name": caps["volume_backend_name"],
        "thin_provisioning_support": "<is> True",
        "total_capacity_gb": "= 0.001",
        "driver_version": "<or> 0.1 <or> " + caps["driver_version"],
        "QoS:anything": "ignored",  # scoped for someone else: not a capability
        "vendor-x:feature": "ignored",
    })
    vol = await _volume(volume_client, admin, good["id"])
    await wait_status(volume_client, admin, vol["id"], "available")
    pools = await volume_client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?volume_type={good['id']}",
        headers={**admin.headers, "OpenStack-API-Version": "volume 3.35"})
    assert len(pools.json()["pools"]) == 1


async def test_get_pools_and_retype_with_unmet_specs(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    plain = await _type(volume_client, admin, "plain", {})
    bogus = await _type(volume_client, admin, "needs-replication",
                        {"replication_enabled": "<is> True"})
    pools = await volume_client.get(
        f"/v3/{admin.project_id}/scheduler-stats/get_pools?volume_type={bogus['id']}",
        headers={**admin.headers, "OpenStack-API-Version": "volume 3.35"})
    assert pools.status_code == 200
    assert pools.json() == {"pools": []}
    vol = await _volume(volume_client, admin, plain["id"])
    await wait_status(volume_client, admin, vol["id"], "available")
    vurl = f"/v3/{admin.project_id}/volumes/{vol['id']}"
    resp = await volume_client.post(f"{vurl}/action",
                                    json={"os-retype": {"new_type": bogus["id"]}},
                                    headers=admin.headers)
    assert resp.status_code == 202  # accepted, as Cinder; its scheduler finds no backend
    shown = (await volume_client.get(vurl, headers=admin.headers)).json()["volume"]
    assert shown["volume_type"] == "plain"
    assert shown["status"] == "available"
