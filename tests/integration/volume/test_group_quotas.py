"""Group quotas: a group create checks `groups`; a group from a source and a
group snapshot check the member volumes / snapshots they insert, in the same
unit, so a refusal (413) leaves nothing written."""

from __future__ import annotations

import pytest

from tests.integration.volume.test_groups import (
    _h,
    action,
    group_type,
    make_group,
    volume_in,
    volume_type,
)
from tests.integration.volume.test_quotas import _msg, _set, _usage

pytestmark = pytest.mark.integration


async def test_group_create_checks_groups_quota(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    gtype = await group_type(volume_client, admin)
    assert (await _set(volume_client, admin, demo.project_id, groups=1)).status_code == 200  # type: ignore[attr-defined]
    await make_group(volume_client, demo, gtype, ["t1"])
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/groups",
        json={"group": {"group_type": gtype, "volume_types": ["t1"]}}, headers=_h(demo))
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of groups allowed (1) exceeded")
    listed = await volume_client.get(f"/v3/{demo.project_id}/groups", headers=_h(demo))
    assert len(listed.json()["groups"]) == 1
    assert (await _usage(volume_client, demo))["groups"]["in_use"] == 1


async def test_group_members_count_against_volumes_and_snapshots(  # type: ignore[no-untyped-def]
    volume_client, admin, demo, rt
) -> None:
    await volume_type(rt, "t1")
    gtype = await group_type(volume_client, admin)
    made = await make_group(volume_client, demo, gtype, ["t1"], name="src")
    await volume_in(volume_client, demo, made["id"], "t1")
    await volume_in(volume_client, demo, made["id"], "t1")
    assert (await _set(volume_client, admin, demo.project_id,  # type: ignore[attr-defined]
                       snapshots=1, volumes=3)).status_code == 200
    base = f"/v3/{demo.project_id}/group_snapshots"
    resp = await volume_client.post(
        base, json={"group_snapshot": {"group_id": made["id"]}}, headers=_h(demo))
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of snapshots allowed (1) exceeded")
    assert (await volume_client.get(base, headers=_h(demo))).json() == {"group_snapshots": []}
    assert (await _usage(volume_client, demo))["snapshots"]["in_use"] == 0
    # Two members to copy, one volume left: the copy is refused whole.
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"source_group_id": made["id"], "name": "c"}})
    assert (resp.status_code, _msg(resp)) == (
        413, "Maximum number of volumes allowed (3) exceeded for quota 'volumes'.")
    usage = await _usage(volume_client, demo)
    assert (usage["volumes"]["in_use"], usage["groups"]["in_use"]) == (2, 1)
    # Room for both: accepted.
    assert (await _set(volume_client, admin, demo.project_id,  # type: ignore[attr-defined]
                       volumes=4)).status_code == 200
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"source_group_id": made["id"], "name": "c"}})
    assert resp.status_code == 202, resp.text
    assert (await _usage(volume_client, demo))["volumes"]["in_use"] == 4


async def test_reserve_retype_checks_the_new_types_keys(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    """The service function os-retype calls in its unit (QuotaService.reserve_retype)."""
    from cinderlite.domain.quotas import VolumeLimitExceeded, VolumeSizeExceedsAvailableQuota

    await volume_type(rt, "t1")
    t2 = await volume_type(rt, "t2")
    vol = await volume_in(volume_client, demo, None, "t1")
    quotas = rt.services.quotas
    assert (await _set(volume_client, admin, demo.project_id,  # type: ignore[attr-defined]
                       volumes_t2=0)).status_code == 200
    with pytest.raises(VolumeLimitExceeded, match="quota 'volumes_t2'"):
        async with rt.db.write() as db:
            await quotas.reserve_retype(db, vol["id"], t2)
    assert (await _set(volume_client, admin, demo.project_id,  # type: ignore[attr-defined]
                       volumes_t2=1, gigabytes_t2=0)).status_code == 200
    with pytest.raises(VolumeSizeExceedsAvailableQuota):
        async with rt.db.write() as db:
            await quotas.reserve_retype(db, vol["id"], t2)
    assert (await _set(volume_client, admin, demo.project_id,  # type: ignore[attr-defined]
                       gigabytes_t2=1)).status_code == 200
    async with rt.db.write() as db:
        await quotas.reserve_retype(db, vol["id"], t2)
