"""Generic volume groups (3.13-3.25) and group snapshots (3.14, 3.19) through the
ASGI volume API: bodies, statuses, Cinder's messages, and the bytes of the
volumes and snapshots they make."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from cinderlite.db.models import VolumeType
from cinderlite.domain.clock import utcnow
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

MIB = 1 << 20


def _h(who, version: str = "3.25") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, "OpenStack-API-Version": f"volume {version}"}


async def volume_type(rt, name: str) -> str:  # type: ignore[no-untyped-def]
    """A public volume type, made through the database (the admin types API is
    not this module's)."""
    type_id = str(uuid.uuid4())
    async with rt.db.write() as db:
        db.add(VolumeType(id=type_id, name=name, description=None, is_public=True,
                          extra_specs={}, created_at=utcnow()))
    return type_id


async def group_type(client, admin, name: str = "gt") -> str:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{admin.project_id}/group_types",
                             json={"group_type": {"name": name}}, headers=_h(admin))
    assert resp.status_code == 202, resp.text
    return str(resp.json()["group_type"]["id"])


async def make_group(client, who, gtype: str, vtypes: list[str], **fields) -> dict:  # type: ignore[no-untyped-def]
    body = {"group": {"group_type": gtype, "volume_types": vtypes, **fields}}
    resp = await client.post(f"/v3/{who.project_id}/groups", json=body, headers=_h(who))
    assert resp.status_code == 202, resp.text
    return resp.json()["group"]


async def show_group(client, who, group_id: str, query: str = "") -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v3/{who.project_id}/groups/{group_id}{query}", headers=_h(who))
    assert resp.status_code == 200, resp.text
    return resp.json()["group"]


async def wait_group(client, who, group_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        resp = await client.get(f"/v3/{who.project_id}/groups/{group_id}", headers=_h(who))
        body = resp.json().get("group", {})
        return body if body.get("status") == status else None
    return await wait_for(check)


async def wait_gone(client, who, path: str) -> None:  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        resp = await client.get(f"/v3/{who.project_id}/{path}", headers=_h(who))
        return resp.status_code == 404 or None
    await wait_for(check)


async def volume_in(client, who, group_id: str | None, vtype: str) -> dict:  # type: ignore[no-untyped-def]
    body = {"volume": {"size": 1, "volume_type": vtype, "group_id": group_id}}
    resp = await client.post(f"/v3/{who.project_id}/volumes", json=body, headers=_h(who))
    assert resp.status_code == 202, resp.text

    async def check():  # type: ignore[no-untyped-def]
        r = await client.get(f"/v3/{who.project_id}/volumes/{resp.json()['volume']['id']}",
                             headers=_h(who))
        v = r.json()["volume"]
        return v if v["status"] == "available" else None
    return await wait_for(check)


async def action(client, who, path: str, body: dict, version: str = "3.25"):  # type: ignore[no-untyped-def]
    return await client.post(f"/v3/{who.project_id}/{path}/action", json=body,
                             headers=_h(who, version))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _scribble(path: Path, seed: int) -> None:
    with open(path, "r+b") as fh:
        for k in (0, 500):
            fh.seek(k * MIB + seed)
            fh.write(os.urandom(MIB))


async def test_group_create_show_list_update_delete(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    t1, t2 = await volume_type(rt, "t1"), await volume_type(rt, "t2")
    gtype = await group_type(volume_client, admin)
    made = await make_group(volume_client, demo, gtype, ["t1", t2], name=" g1 ",
                            description="first")
    assert set(made) == {"id", "name"}
    assert made["name"] == "g1"
    shown = await show_group(volume_client, demo, made["id"])
    assert shown == {
        "id": made["id"], "status": "available", "availability_zone": "nova",
        "created_at": shown["created_at"], "name": "g1", "description": "first",
        "group_type": gtype, "volume_types": [t1, t2], "group_snapshot_id": None,
        "source_group_id": None,
    }
    # 3.13 has no source fields; 3.25 lists the volumes when asked; 3.38 replication.
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups/{made['id']}",
                                   headers=_h(demo, "3.13"))
    assert "group_snapshot_id" not in resp.json()["group"]
    assert (await show_group(volume_client, demo, made["id"], "?list_volume=True"))[
        "volumes"] == []
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups/{made['id']}",
                                   headers=_h(demo, "3.38"))
    assert resp.json()["group"]["replication_status"] == "disabled"
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups", headers=_h(demo, "3.12"))
    assert resp.status_code == 404
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups", headers=_h(demo))
    assert resp.json() == {"groups": [{"id": made["id"], "name": "g1"}]}
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups/detail", headers=_h(demo))
    assert resp.json()["groups"][0]["volume_types"] == [t1, t2]

    # Members: in a group at creation, or added; the type must be the group's.
    v1 = await volume_in(volume_client, demo, made["id"], "t1")
    assert v1["group_id"] == made["id"]
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes/{v1['id']}",
                                   headers=_h(demo, "3.12"))
    assert "group_id" not in resp.json()["volume"]
    v2 = await volume_in(volume_client, demo, None, "t2")
    other = await volume_type(rt, "t3")
    v3 = await volume_in(volume_client, demo, None, "t3")
    url = f"/v3/{demo.project_id}/groups/{made['id']}"
    resp = await volume_client.put(url, json={"group": {"add_volumes": v3["id"]}},
                                   headers=_h(demo))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: Cannot add volume {v3['id']} to group {made['id']} because volume "
        f"type {other} is not supported by the group."
    )
    resp = await volume_client.put(url, json={"group": {"add_volumes": f"{v2['id']},",
                                                        "name": "g2"}}, headers=_h(demo))
    assert resp.status_code == 202, resp.text
    shown = await show_group(volume_client, demo, made["id"], "?list_volume=true")
    assert sorted(shown["volumes"]) == sorted([v1["id"], v2["id"]])
    assert shown["name"] == "g2"
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes?group_id={made['id']}",
                                   headers=_h(demo))
    assert {v["id"] for v in resp.json()["volumes"]} == {v1["id"], v2["id"]}
    resp = await volume_client.put(url, json={"group": {"name": "g2"}}, headers=_h(demo))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid Group: Cannot update group {made['id']} because no valid name, description, "
        "add_volumes, or remove_volumes were provided."
    )
    resp = await volume_client.put(
        url, json={"group": {"add_volumes": v3["id"], "remove_volumes": v3["id"]}},
        headers=_h(demo))
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: UUIDs ['{v3['id']}'] are in both add and remove volume list."
    )
    resp = await volume_client.put(url, json={"group": {"remove_volumes": v3["id"]}},
                                   headers=_h(demo))
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume: Cannot remove volume {v3['id']} from group {made['id']} because it "
        "is not in the group."
    )
    # A member cannot be deleted alone; the group cannot go without delete-volumes.
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{v1['id']}",
                                      headers=_h(demo))
    assert resp.status_code == 400
    resp = await action(volume_client, demo, f"groups/{made['id']}", {"delete": {}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid Group: Group {made['id']} still contains volumes. The delete-volumes flag "
        "is required to delete it."
    )
    resp = await volume_client.put(url, json={"group": {"remove_volumes": v2["id"]}},
                                   headers=_h(demo))
    assert resp.status_code == 202
    resp = await action(volume_client, demo, f"groups/{made['id']}",
                        {"delete": {"delete-volumes": True}})
    assert resp.status_code == 202, resp.text
    await wait_gone(volume_client, demo, f"groups/{made['id']}")
    await wait_gone(volume_client, demo, f"volumes/{v1['id']}")
    assert not rt.volumes.path(v1["id"]).exists()
    # The removed volume stays, out of any group.
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes/{v2['id']}",
                                   headers=_h(demo))
    assert resp.json()["volume"]["group_id"] is None
    # The group type is free again.
    resp = await volume_client.delete(f"/v3/{admin.project_id}/group_types/{gtype}",
                                      headers=_h(admin))
    assert resp.status_code == 202


async def test_group_create_refusals(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    gtype = await group_type(volume_client, admin)
    base = f"/v3/{demo.project_id}/groups"

    async def refused(body: dict, status: int = 400) -> str:
        resp = await volume_client.post(base, json={"group": body}, headers=_h(demo))
        assert resp.status_code == status, resp.text
        return str(next(iter(resp.json().values()))["message"])

    assert await refused({"group_type": "nope", "volume_types": ["t1"]}, 404) == (
        "Group type with name nope could not be found."
    )
    missing = str(uuid.uuid4())
    assert await refused({"group_type": missing, "volume_types": ["t1"]}, 404) == (
        f"Group type {missing} could not be found."
    )
    assert await refused({"group_type": gtype, "volume_types": ["tx"]}, 404) == (
        "Volume type with name tx could not be found."
    )
    assert (await refused({"group_type": gtype, "volume_types": []})).startswith(
        "Invalid input for field/attribute volume_types."
    )
    assert (await refused({"group_type": gtype})).endswith(
        "'volume_types' is a required property"
    )
    assert await refused({"group_type": gtype, "volume_types": ["t1"],
                          "availability_zone": "mars"}) == (
        "Invalid input received: Availability zone 'mars' is invalid."
    )
    # A group type in use cannot be deleted.
    made = await make_group(volume_client, demo, gtype, ["t1"])
    resp = await volume_client.delete(f"/v3/{admin.project_id}/group_types/{gtype}",
                                      headers=_h(admin))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Target group type is still in use. Group Type {gtype} deletion is not allowed with "
        "groups present with the type."
    )
    # A volume whose type the group does not take cannot be made in it.
    await volume_type(rt, "t2")
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "t2", "group_id": made["id"]}},
        headers=_h(demo))
    assert resp.status_code == 400
    assert "requested type must be supported by this group" in resp.text
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes",
        json={"volume": {"size": 1, "volume_type": "t1", "group_id": missing}},
        headers=_h(demo))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Group {missing} could not be found."


async def test_reset_group_status_is_admin_and_320(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    made = await make_group(volume_client, demo, await group_type(volume_client, admin), ["t1"])
    path = f"groups/{made['id']}"
    resp = await action(volume_client, demo, path, {"reset_status": {"status": "error"}},
                        "3.19")
    assert resp.status_code == 404
    resp = await action(volume_client, demo, path, {"reset_status": {"status": "error"}},
                        "3.20")
    assert resp.status_code == 403
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/groups/{made['id']}/action",
        json={"reset_status": {"status": "bogus"}}, headers=_h(admin, "3.20"))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid Group Status: Group status: bogus is invalid, valid status are: ('error', "
        "'available', 'creating', 'deleting', 'deleted', 'updating', 'in-use', "
        "'error_deleting')."
    )
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/groups/{made['id']}/action",
        json={"reset_status": {"status": "ERROR"}}, headers=_h(admin, "3.20"))
    assert resp.status_code == 202
    assert (await show_group(volume_client, demo, made["id"]))["status"] == "error"
    resp = await action(volume_client, demo, path, {"fly": {}})
    assert resp.status_code == 400


async def test_group_snapshot_and_groups_from_sources_copy_bytes(
    volume_client, admin, demo, rt
) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    gtype = await group_type(volume_client, admin)
    made = await make_group(volume_client, demo, gtype, ["t1"], name="src")
    v1 = await volume_in(volume_client, demo, made["id"], "t1")
    v2 = await volume_in(volume_client, demo, made["id"], "t1")
    p1, p2 = rt.volumes.path(v1["id"]), rt.volumes.path(v2["id"])
    _scribble(p1, 1)
    _scribble(p2, 2)
    taken = {v1["id"]: _sha(p1), v2["id"]: _sha(p2)}
    base = f"/v3/{demo.project_id}/group_snapshots"
    resp = await volume_client.post(base, json={"group_snapshot": {"group_id": made["id"],
                                                                   "name": "gs"}},
                                    headers=_h(demo, "3.13"))
    assert resp.status_code == 404
    resp = await volume_client.post(base, json={"group_snapshot": {"group_id": made["id"],
                                                                   "name": "gs"}},
                                    headers=_h(demo))
    assert resp.status_code == 202, resp.text
    gsnap = resp.json()["group_snapshot"]
    assert gsnap == {"id": gsnap["id"], "name": "gs", "group_type_id": gtype}

    async def gs_available():  # type: ignore[no-untyped-def]
        r = await volume_client.get(f"{base}/{gsnap['id']}", headers=_h(demo))
        body = r.json()["group_snapshot"]
        return body if body["status"] == "available" else None
    shown = await wait_for(gs_available)
    assert shown["group_id"] == made["id"]
    assert shown["group_type_id"] == gtype
    # Writes after the snapshot do not reach it.
    _scribble(p1, 3)
    resp = await volume_client.get(f"/v3/{demo.project_id}/snapshots/detail",
                                   headers=_h(demo))
    snaps = [s for s in resp.json()["snapshots"] if s["group_snapshot_id"] == gsnap["id"]]
    assert {s["volume_id"] for s in snaps} == set(taken)
    for s in snaps:
        assert _sha(p1.with_name(f"snapshot-{s['id']}")) == taken[s["volume_id"]]
    # A snapshot of a group snapshot goes with it only; the group is kept while it has one.
    resp = await volume_client.delete(f"/v3/{demo.project_id}/snapshots/{snaps[0]['id']}",
                                      headers=_h(demo))
    assert resp.status_code == 400
    resp = await action(volume_client, demo, f"groups/{made['id']}",
                        {"delete": {"delete-volumes": True}})
    assert resp.json()["badRequest"]["message"] == "Invalid Group: Group has existing snapshots."
    resp = await volume_client.get(base, headers=_h(demo))
    assert resp.json() == {"group_snapshots": [{"id": gsnap["id"], "name": "gs"}]}

    # A group from the group snapshot: a copy of each snapshot.
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"group_snapshot_id": gsnap["id"], "name": "copy"}})
    assert resp.status_code == 202, resp.text
    copy = await wait_group(volume_client, demo, resp.json()["group"]["id"], "available")
    assert copy["group_snapshot_id"] == gsnap["id"]
    assert copy["group_type"] == gtype
    copied = (await show_group(volume_client, demo, copy["id"], "?list_volume=1"))["volumes"]
    assert sorted(_sha(rt.volumes.path(v)) for v in copied) == sorted(taken.values())
    # The source group, copied as it is now.
    now = {v1["id"]: _sha(p1), v2["id"]: _sha(p2)}
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"source_group_id": made["id"]}})
    assert resp.status_code == 202, resp.text
    clone = await wait_group(volume_client, demo, resp.json()["group"]["id"], "available")
    assert clone["source_group_id"] == made["id"]
    cloned = (await show_group(volume_client, demo, clone["id"], "?list_volume=1"))["volumes"]
    assert sorted(_sha(rt.volumes.path(v)) for v in cloned) == sorted(now.values())
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"source_group_id": made["id"]}}, "3.13")
    assert resp.status_code == 404
    resp = await action(volume_client, demo, "groups", {"create-from-src": {}})
    assert resp.status_code == 400

    # Delete the group snapshot, then the groups.
    resp = await volume_client.delete(f"{base}/{gsnap['id']}", headers=_h(demo))
    assert resp.status_code == 202
    await wait_gone(volume_client, demo, f"group_snapshots/{gsnap['id']}")
    for s in snaps:
        assert not p1.with_name(f"snapshot-{s['id']}").exists()
    for g in (made, copy, clone):
        resp = await action(volume_client, demo, f"groups/{g['id']}",
                            {"delete": {"delete-volumes": "true"}})
        assert resp.status_code == 202, resp.text
        await wait_gone(volume_client, demo, f"groups/{g['id']}")


async def test_group_snapshot_reset_and_refusals(volume_client, admin, demo, rt) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    made = await make_group(volume_client, demo, await group_type(volume_client, admin), ["t1"])
    base = f"/v3/{demo.project_id}/group_snapshots"
    resp = await volume_client.post(base, json={"group_snapshot": {"group_id": made["id"]}},
                                    headers=_h(demo))
    gsnap = resp.json()["group_snapshot"]
    # An empty group's snapshot is available at once, and makes no group.
    shown = (await volume_client.get(f"{base}/{gsnap['id']}", headers=_h(demo))).json()
    assert shown["group_snapshot"]["status"] == "available"
    resp = await action(volume_client, demo, "groups",
                        {"create-from-src": {"group_snapshot_id": gsnap["id"]}})
    assert resp.json()["badRequest"]["message"] == (
        "Invalid Group: Group snapshot is empty. No group will be created."
    )
    # Below 3.29 the listing reads no parameter; from 3.29 it pages and filters.
    resp = await volume_client.get(f"{base}/detail?limit=0&status=error",
                                   headers=_h(demo, "3.28"))
    assert [g["id"] for g in resp.json()["group_snapshots"]] == [gsnap["id"]]
    resp = await volume_client.get(f"{base}/detail?status=error", headers=_h(demo, "3.29"))
    assert resp.json()["group_snapshots"] == []
    admin_path = f"/v3/{admin.project_id}/group_snapshots/{gsnap['id']}/action"
    resp = await volume_client.post(admin_path, json={"reset_status": {"status": "x"}},
                                    headers=_h(admin, "3.19"))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid GroupSnapshot Status: Group snapshot status: x is invalid, valid statuses "
        "are: ('error', 'available', 'creating', 'deleting', 'deleted', 'updating', "
        "'error_deleting')."
    )
    resp = await volume_client.post(admin_path, json={"reset_status": {"status": "creating"}},
                                    headers=_h(admin, "3.18"))
    assert resp.status_code == 404
    resp = await action(volume_client, demo, f"group_snapshots/{gsnap['id']}",
                        {"reset_status": {"status": "creating"}})
    assert resp.status_code == 403
    resp = await volume_client.post(admin_path, json={"reset_status": {"status": "creating"}},
                                    headers=_h(admin, "3.19"))
    assert resp.status_code == 202
    resp = await volume_client.delete(f"{base}/{gsnap['id']}", headers=_h(demo))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid GroupSnapshot: GroupSnapshot status must be available or error, and no Group "
        "can be currently using it as source for its creation."
    )
    missing = str(uuid.uuid4())
    resp = await volume_client.post(base, json={"group_snapshot": {"group_id": missing}},
                                    headers=_h(demo))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Group {missing} could not be found."
    resp = await volume_client.get(f"{base}/{missing}", headers=_h(demo))
    assert resp.json()["itemNotFound"]["message"] == (
        f"GroupSnapshot {missing} could not be found."
    )


async def test_replication_actions_are_refused_with_cinders_checks(
    volume_client, admin, demo, rt
) -> None:  # type: ignore[no-untyped-def]
    t1 = await volume_type(rt, "t1")
    plain = await make_group(volume_client, demo, await group_type(volume_client, admin),
                             ["t1"])
    resp = await action(volume_client, demo, f"groups/{plain['id']}",
                        {"enable_replication": {}}, "3.37")
    assert resp.status_code == 404
    resp = await action(volume_client, demo, f"groups/{plain['id']}",
                        {"enable_replication": {}}, "3.38")
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid group type: Group {plain['id']} is not a replication group type."
    )
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/group_types", headers=_h(admin),
        json={"group_type": {"name": "rep", "group_specs": {
            "group_replication_enabled": "<is> True"}}})
    rep = await make_group(volume_client, demo, resp.json()["group_type"]["id"], ["t1"])
    resp = await action(volume_client, demo, f"groups/{rep['id']}",
                        {"list_replication_targets": {}}, "3.38")
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"Invalid volume type: Volume type {t1} does not have 'replication_enabled' spec key "
        "set to '<is> True'."
    )


async def test_racing_add_and_delete_never_leave_a_deleted_member(
    volume_client, admin, demo, rt
) -> None:  # type: ignore[no-untyped-def]
    """A volume added to a group while it is being deleted: one of the two wins,
    never both, and nothing answers 500 (the volume row lock orders them)."""
    import asyncio

    await volume_type(rt, "t1")
    made = await make_group(volume_client, demo, await group_type(volume_client, admin),
                            ["t1"])
    vols = [await volume_in(volume_client, demo, None, "t1") for _ in range(6)]

    async def add(vid: str):  # type: ignore[no-untyped-def]
        return await volume_client.put(f"/v3/{demo.project_id}/groups/{made['id']}",
                                       json={"group": {"add_volumes": vid}}, headers=_h(demo))

    async def delete(vid: str):  # type: ignore[no-untyped-def]
        return await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vid}",
                                          headers=_h(demo))

    results = await asyncio.gather(*(f(v["id"]) for v in vols for f in (add, delete)))
    assert all(r.status_code < 500 for r in results), [r.text for r in results]
    for i in range(len(vols)):
        added, deleted = results[2 * i], results[2 * i + 1]
        assert (added.status_code == 202) != (deleted.status_code == 202), (
            added.text, deleted.text)
    members = (await show_group(volume_client, demo, made["id"], "?list_volume=1"))["volumes"]
    for i, v in enumerate(vols):
        assert (v["id"] in members) == (results[2 * i].status_code == 202)


async def test_project_id_in_group_views_at_3_58_for_admins(  # type: ignore[no-untyped-def]
    volume_client, admin, demo, rt, monkeypatch
) -> None:
    from cinderlite.api.volume import versions
    from cinderlite.api.volume.context import ApiVersion

    if ApiVersion(3, 58) > versions.MAX:
        monkeypatch.setattr(versions, "MAX", ApiVersion(3, 58))
    vt = await volume_type(rt, "vt58")
    gt = await group_type(volume_client, admin, "gt58")
    made = await make_group(volume_client, demo, gt, [vt])
    await wait_group(volume_client, demo, made["id"], "available")
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/group_snapshots", headers=_h(demo),
        json={"group_snapshot": {"group_id": made["id"]}})
    assert resp.status_code == 202, resp.text
    snap_id = resp.json()["group_snapshot"]["id"]
    for version, who, shown in [("3.57", admin, False), ("3.58", admin, True),
                                ("3.58", demo, False)]:
        base = f"/v3/{who.project_id}"
        group = (await volume_client.get(f"{base}/groups/{made['id']}",
                                         headers=_h(who, version))).json()["group"]
        snap = (await volume_client.get(f"{base}/group_snapshots/{snap_id}",
                                        headers=_h(who, version))).json()["group_snapshot"]
        listed = (await volume_client.get(f"{base}/groups/detail?all_tenants=1",
                                          headers=_h(who, version))).json()["groups"]
        assert ("project_id" in group) is shown, (version, who)
        assert ("project_id" in snap) is shown
        assert all(("project_id" in g) is shown for g in listed)
        if shown:
            assert group["project_id"] == demo.project_id
            assert snap["project_id"] == demo.project_id
