"""The list filters Cinder's resource_filters names for volumes, snapshots and
backups, at their microversions: `size`, the 3.60 time comparisons on
created_at/updated_at, a snapshot's zone, the 3.31 general filtering and the
3.34 like filters of backups; and the 3.49 `backend_state` of os-services.

3.49 and 3.60 are above the served maximum: those tests raise it for the test.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from cinderlite.api.volume import versions
from cinderlite.api.volume.context import ApiVersion
from tests.integration.volume.test_backups import _backup, _backup_status
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration


def _v(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


@pytest.fixture
def max_360(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "MAX", ApiVersion(3, 60))


async def _names(client, who, path: str, query: str, version: str = "3.0") -> list[str]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{who.project_id}/{path}{query}",
                            headers={**who.headers, **_v(version)})
    assert resp.status_code == 200, resp.text
    key = path.split("/")[0]
    return sorted(item["name"] for item in resp.json()[key])


async def test_volume_size_filter(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    for name, size in (("one", 1), ("two", 2)):
        await wait_status(volume_client, demo,
                          (await create(volume_client, demo, name=name, size=size))["id"],
                          "available")
    for version in ("3.0", "3.31"):
        assert await _names(volume_client, demo, "volumes", "?size=2", version) == ["two"]
        assert await _names(volume_client, demo, "volumes/detail", "?size=1", version) == ["one"]
    assert await _names(volume_client, demo, "volumes", "?size=big", "3.31") == []


async def test_time_comparison_filters_at_360(volume_client, demo, max_360) -> None:  # type: ignore[no-untyped-def]
    old = await create(volume_client, demo, name="old")
    await wait_status(volume_client, demo, old["id"], "available")
    await asyncio.sleep(0.05)
    middle = datetime.fromisoformat(old["created_at"]) + timedelta(milliseconds=20)
    new = await create(volume_client, demo, name="new")
    await wait_status(volume_client, demo, new["id"], "available")
    at = middle.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert await _names(volume_client, demo, "volumes", f"?created_at=gt:{at}", "3.60") == [
        "new"]
    assert await _names(volume_client, demo, "volumes", f"?created_at=lte:{at}", "3.60") == [
        "old"]
    exact = old["created_at"]
    assert await _names(volume_client, demo, "volumes", f"?created_at=eq:{exact}",
                        "3.60") == ["old"]
    assert await _names(volume_client, demo, "volumes", f"?created_at=neq:{exact}",
                        "3.60") == ["new"]
    both = f"?created_at=gte:{exact},lt:2999-01-01T00:00:00"
    assert await _names(volume_client, demo, "volumes/detail", both, "3.60") == ["new", "old"]
    # updated_at: set when the volume became available.
    assert await _names(volume_client, demo, "volumes", "?updated_at=gt:2000-01-01T00:00:00Z",
                        "3.60") == ["new", "old"]
    # Below 3.60 Cinder drops them.
    assert await _names(volume_client, demo, "volumes", f"?created_at=gt:{at}", "3.59") == [
        "new", "old"]
    for query, message in (("?created_at=after:2020-01-01", "Invalid after operator"),
                           ("?created_at=gt:yesterday", "Invalid yesterday value"),
                           ("?updated_at=gt", "Invalid gt value")):
        resp = await volume_client.get(f"/v3/{demo.project_id}/volumes{query}",
                                       headers={**demo.headers, **_v("3.60")})
        assert resp.status_code == 400, query
        assert resp.json()["badRequest"]["message"] == message


async def test_snapshot_zone_filter(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    resp = await volume_client.post(f"/v3/{demo.project_id}/snapshots",
                                    json={"snapshot": {"volume_id": vol["id"], "name": "s"}},
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    for version in ("3.0", "3.31"):
        assert await _names(volume_client, demo, "snapshots", "?availability_zone=nova",
                            version) == ["s"]
        assert await _names(volume_client, demo, "snapshots/detail",
                            "?availability_zone=elsewhere", version) == []


async def test_backup_general_and_like_filters(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    made = await _backup(volume_client, demo, vol["id"], name="nightly-1")
    await _backup_status(volume_client, demo, made["id"], "available")
    # Like filters (3.34): any for an admin; a non-admin only those the
    # resource filters configure with `~` (none by default): a 400.
    mine = f"?all_tenants=1&project_id={demo.project_id}"
    assert await _names(volume_client, admin, "backups", mine + "&name~=GHTLY", "3.34") == [
        "nightly-1"]
    assert await _names(volume_client, admin, "backups/detail", mine + "&name~=weekly",
                        "3.34") == []
    # An admin's `name~` is a like filter from 3.31 (Cinder's database layer reads
    # `key~` whatever the version; 3.34 only lets non-admins name it).
    assert await _names(volume_client, admin, "backups", mine + "&name~=weekly", "3.33") == []
    for version in ("3.33", "3.34"):
        resp = await volume_client.get(f"/v3/{demo.project_id}/backups?name~=ghtly",
                                       headers={**demo.headers, **_v(version)})
        assert resp.status_code == 400
        assert resp.json()["badRequest"]["message"] == (
            "Invalid filters name~ are found in query options.")
    resp = await volume_client.get(f"/v3/{demo.project_id}/backups?size=1",
                                   headers={**demo.headers, **_v("3.31")})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid filters size are found in query options.")
    # Below 3.31 unknown filters are dropped.
    assert await _names(volume_client, demo, "backups", "?size=1", "3.30") == ["nightly-1"]
    assert await _names(volume_client, demo, "backups", "?status=available", "3.31") == [
        "nightly-1"]


async def test_backend_state_at_349(volume_client, admin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(versions, "MAX", ApiVersion(3, 49))
    url = f"/v3/{admin.project_id}/os-services"
    resp = await volume_client.get(url, headers={**admin.headers, **_v("3.49")})
    by_binary = {s["binary"]: s for s in resp.json()["services"]}
    assert by_binary["cinder-volume"]["backend_state"] == "up"
    assert "backend_state" not in by_binary["cinder-scheduler"]
    resp = await volume_client.get(url, headers={**admin.headers, **_v("3.48")})
    assert all("backend_state" not in s for s in resp.json()["services"])
    host = by_binary["cinder-volume"]["host"]
    await volume_client.put(f"/v3/{admin.project_id}/os-services/disable",
                            json={"host": host, "binary": "cinder-volume"}, headers=admin.headers)
    resp = await volume_client.get(url + "?binary=cinder-volume",
                                   headers={**admin.headers, **_v("3.49")})
    assert resp.json()["services"][0]["backend_state"] is None


async def test_summary_all_tenants_must_be_a_boolean(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await wait_status(volume_client, demo, (await create(volume_client, demo, size=2))["id"],
                      "available")
    url = f"/v3/{admin.project_id}/volumes/summary"
    resp = await volume_client.get(url + "?all_tenants=maybe",
                                   headers={**admin.headers, **_v("3.12")})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Value 'maybe' for 'all_tenants' is not a boolean.")
    resp = await volume_client.get(url + "?all_tenants=True",
                                   headers={**admin.headers, **_v("3.12")})
    assert resp.json()["volume-summary"] == {"total_count": 1, "total_size": 2}
    resp = await volume_client.get(url + "?all_tenants=0", headers={**admin.headers, **_v("3.12")})
    assert resp.json()["volume-summary"] == {"total_count": 0, "total_size": 0}
