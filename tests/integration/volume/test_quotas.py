"""Quotas and limits through the volume API: os-quota-sets, os-quota-class-sets,
/limits, the 413s of every path that consumes quota, usage given back, and the
race: 20 concurrent creates against a quota of 10 accept exactly 10."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import make_user
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

KEYS = {"volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes",
        "per_volume_gigabytes", "groups", "volumes___DEFAULT__", "gigabytes___DEFAULT__",
        "snapshots___DEFAULT__"}


def _msg(resp) -> str:  # type: ignore[no-untyped-def]
    return str(next(iter(resp.json().values()))["message"])


async def _set(client, admin, project_id: str, **values) -> object:  # type: ignore[no-untyped-def]
    return await client.put(f"/v3/{admin.project_id}/os-quota-sets/{project_id}",
                            json={"quota_set": values}, headers=admin.headers)


async def _usage(client, who) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{who.project_id}/os-quota-sets/{who.project_id}?usage=true",
                            headers=who.headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["quota_set"])


async def test_defaults_show_and_per_type_keys(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await rt.services.volumes.default_type()
    resp = await volume_client.get(
        f"/v3/{demo.project_id}/os-quota-sets/{demo.project_id}/defaults", headers=demo.headers)
    assert resp.status_code == 200
    body = resp.json()["quota_set"]
    assert body["id"] == demo.project_id
    assert {k: body[k] for k in ("volumes", "gigabytes", "snapshots", "backups",
                                 "backup_gigabytes", "per_volume_gigabytes", "groups")} == {
        "volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
        "backup_gigabytes": 1000, "per_volume_gigabytes": -1, "groups": 10}
    assert set(body) == KEYS | {"id"}
    assert body["volumes___DEFAULT__"] == -1
    shown = await volume_client.get(f"/v3/{demo.project_id}/os-quota-sets/{demo.project_id}",
                                    headers=demo.headers)
    assert shown.json() == resp.json()


async def test_update_is_admin_only_and_validated(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await _set(volume_client, demo, demo.project_id, volumes=3)
    assert resp.status_code == 403
    resp = await _set(volume_client, admin, demo.project_id, volumes=-2)
    assert (resp.status_code, _msg(resp)) == (400, "volumes must be >= -1")
    resp = await _set(volume_client, admin, demo.project_id, volumes="x")
    assert (resp.status_code, _msg(resp)) == (400, "volumes must be an integer")
    resp = await _set(volume_client, admin, demo.project_id, volumes=1.5)
    assert (resp.status_code, _msg(resp)) == (400, "volumes must be an integer")
    resp = await _set(volume_client, admin, demo.project_id, bogus=1, volumes=1)
    assert (resp.status_code, _msg(resp)) == (
        400, "Invalid input received: Bad key(s) in quota set: bogus")
    resp = await volume_client.put(f"/v3/{admin.project_id}/os-quota-sets/{demo.project_id}",
                                   json={"quota_set": {}}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await _set(volume_client, admin, demo.project_id, volumes="3", tenant_id="x")
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota_set"]["volumes"] == 3
    assert "id" not in resp.json()["quota_set"]
    # Below what is in use: refused.
    await create(volume_client, demo)
    await create(volume_client, demo)
    resp = await _set(volume_client, admin, demo.project_id, volumes=1)
    assert (resp.status_code, _msg(resp)) == (400, (
        "Quota volumes limit must be equal or greater than existing resources. Current "
        "usage is 2 and the requested limit is 1."))
    # Delete: back to the defaults.
    resp = await volume_client.delete(
        f"/v3/{admin.project_id}/os-quota-sets/{demo.project_id}", headers=admin.headers)
    assert resp.status_code == 200
    assert (await _usage(volume_client, demo))["volumes"]["limit"] == 10
    resp = await volume_client.delete(
        f"/v3/{demo.project_id}/os-quota-sets/{demo.project_id}", headers=demo.headers)
    assert resp.status_code == 403


async def test_usage_and_limits_follow_creates_and_deletes(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, size=2)
    await wait_status(volume_client, demo, vol["id"], "available")
    usage = await _usage(volume_client, demo)
    assert usage["volumes"] == {"limit": 10, "in_use": 1, "reserved": 0, "allocated": 0}
    assert usage["gigabytes"]["in_use"] == 2
    assert usage["gigabytes___DEFAULT__"]["in_use"] == 2
    resp = await volume_client.get(f"/v3/{demo.project_id}/limits", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.json() == {"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": 10, "maxTotalVolumeGigabytes": 1000, "maxTotalSnapshots": 10,
        "maxTotalBackups": 10, "maxTotalBackupGigabytes": 1000, "totalVolumesUsed": 1,
        "totalGigabytesUsed": 2, "totalSnapshotsUsed": 0, "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0}}}
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202
    usage = await _usage(volume_client, demo)
    assert usage["volumes"]["in_use"] == 0
    assert usage["gigabytes"]["in_use"] == 0


async def test_over_quota_answers_413_with_cinder_messages(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.post(url, json={"volume": {"size": 1001}}, headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (413, (
        "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 1001G, "
        "quota is 1000G and 0G has been consumed."))
    assert "overLimit" in resp.json()
    assert (await _set(volume_client, admin, demo.project_id, volumes=1,
                       per_volume_gigabytes=5, snapshots=0, backups=0)).status_code == 200
    resp = await volume_client.post(url, json={"volume": {"size": 6}}, headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (
        413, "Requested volume size 6G is larger than maximum allowed limit 5G.")
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    resp = await volume_client.post(url, json={"volume": {"size": 1}}, headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of volumes allowed (1) exceeded for quota 'volumes'.")
    resp = await volume_client.post(url, json={"volume": {"source_volid": vol["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 413
    resp = await volume_client.post(f"/v3/{demo.project_id}/snapshots",
                                    json={"snapshot": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of snapshots allowed (0) exceeded")
    resp = await volume_client.post(f"/v3/{demo.project_id}/backups",
                                    json={"backup": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of backups allowed (0) exceeded")
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vol['id']}/action",
        json={"os-extend": {"new_size": 6}}, headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (
        413, "Requested volume size 6G is larger than maximum allowed limit 5G.")
    assert (await _set(volume_client, admin, demo.project_id, gigabytes=3)).status_code == 200
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vol['id']}/action",
        json={"os-extend": {"new_size": 4}}, headers=demo.headers)
    assert (resp.status_code, _msg(resp)) == (413, (
        "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 3G, "
        "quota is 3G and 1G has been consumed."))
    usage = await _usage(volume_client, demo)
    assert (usage["volumes"]["in_use"], usage["gigabytes"]["in_use"]) == (1, 1)


async def test_transfer_accept_checks_the_takers_quota(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    alt = await make_user(rt, name="alt", project="alt", roles=("member",))
    vol = await create(volume_client, demo, size=2)
    await wait_status(volume_client, demo, vol["id"], "available")
    made = await volume_client.post(f"/v3/{demo.project_id}/os-volume-transfer",
                                    json={"transfer": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    transfer = made.json()["transfer"]
    assert (await _set(volume_client, admin, alt.project_id, gigabytes=1)).status_code == 200
    accept = f"/v3/{alt.project_id}/os-volume-transfer/{transfer['id']}/accept"
    body = {"accept": {"auth_key": transfer["auth_key"]}}
    resp = await volume_client.post(accept, json=body, headers=alt.headers)
    assert (resp.status_code, _msg(resp)) == (413, (
        "Requested volume or snapshot exceeds allowed gigabytes quota. Requested 2G, "
        "quota is 1G and 0G has been consumed."))
    assert (await _set(volume_client, admin, alt.project_id, gigabytes=2)).status_code == 200
    resp = await volume_client.post(accept, json=body, headers=alt.headers)
    assert resp.status_code == 202, resp.text
    assert (await _usage(volume_client, alt))["gigabytes"]["in_use"] == 2
    assert (await _usage(volume_client, demo))["gigabytes"]["in_use"] == 0


async def test_quota_class_default_gives_the_defaults(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{admin.project_id}/os-quota-class-sets/default"
    resp = await volume_client.get(f"/v3/{demo.project_id}/os-quota-class-sets/default",
                                   headers=demo.headers)
    assert resp.status_code == 403
    resp = await volume_client.put(url, json={"quota_class_set": {"volumes": 7}},
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["quota_class_set"]["volumes"] == 7
    resp = await volume_client.put(url, json={"quota_class_set": {"id": 7}},
                                   headers=admin.headers)
    assert (resp.status_code, _msg(resp)) == (
        400, "Invalid input received: Bad key(s) in quota class set: id")
    shown = await volume_client.get(url, headers=admin.headers)
    assert shown.json()["quota_class_set"]["id"] == "default"
    assert (await _usage(volume_client, demo))["volumes"]["limit"] == 7


async def test_twenty_concurrent_creates_against_ten_accept_exactly_ten(  # type: ignore[no-untyped-def]
    volume_client, demo,
) -> None:
    url = f"/v3/{demo.project_id}/volumes"
    resps = await asyncio.gather(*(
        volume_client.post(url, json={"volume": {"size": 1}}, headers=demo.headers)
        for _ in range(20)
    ))
    codes = sorted(r.status_code for r in resps)
    assert codes == [202] * 10 + [413] * 10
    assert (await _usage(volume_client, demo))["volumes"]["in_use"] == 10
