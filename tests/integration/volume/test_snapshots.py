"""Snapshots and the volumes copied from them or from other volumes, through the
ASGI volume API: bodies, statuses, messages, policies and the bytes on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from cinderlite.db.models import Snapshot
from cinderlite.domain.snapshots import SnapshotStatus
from tests.conftest import wait_for
from tests.integration.volume.test_volumes import V30_KEYS, create, wait_status

pytestmark = pytest.mark.integration

MIB = 1 << 20
GIB = 1 << 30
SNAPSHOT_KEYS = {
    "id", "created_at", "updated_at", "name", "description", "volume_id", "status", "size",
    "metadata",
}
EXTENDED_KEYS = {
    "os-extended-snapshot-attributes:progress", "os-extended-snapshot-attributes:project_id",
}
DELETE_REFUSED = (
    "Invalid volume: Volume status must be available or error or error_restoring or "
    "error_extending or error_managing and must not be migrating, attached, belong to a group, "
    "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "
    "transfer."
)


def _url(who, path: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/v3/{who.project_id}/snapshots{path}"


def _scribble(path: Path, seed: int) -> None:
    """Random data at a few places of a sparse volume file (the rest stays holes)."""
    rnd = os.urandom
    with open(path, "r+b") as fh:
        for k in (0, 300, 700):
            fh.seek(k * MIB + seed)
            fh.write(rnd(MIB))


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()


def _read_head_and_tail(path: Path) -> tuple[bytes, bytes]:
    """The first GiB and the MiB after it."""
    with open(path, "rb") as fh:
        head = fh.read(GIB)
        return head, fh.read(MIB)


async def _volume(client, who, rt, **fields) -> dict:  # type: ignore[no-untyped-def]
    vol = await create(client, who, **fields)
    return await wait_status(client, who, vol["id"], "available")


async def _snapshot(client, who, volume_id: str, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        _url(who), json={"snapshot": {"volume_id": volume_id, **fields}}, headers=who.headers
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["snapshot"]


async def _snapshot_status(client, who, snapshot_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        resp = await client.get(_url(who, f"/{snapshot_id}"), headers=who.headers)
        body = resp.json().get("snapshot", {})
        return body if body.get("status") == status else None

    return await wait_for(check)


async def test_snapshot_copies_the_volume_bytes_at_that_moment(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt, name="src")
    path = rt.volumes.path(vol["id"])
    _scribble(path, 1)
    before = _sha(path)
    snap = await _snapshot(volume_client, demo, vol["id"], name=" s1 ", description="first")
    assert set(snap) == SNAPSHOT_KEYS
    assert snap["status"] == "creating"
    assert snap["name"] == "s1"  # Cinder strips the name and description
    assert snap["size"] == 1
    assert snap["volume_id"] == vol["id"]
    shown = await _snapshot_status(volume_client, demo, snap["id"], "available")
    assert set(shown) == SNAPSHOT_KEYS | EXTENDED_KEYS
    assert shown["os-extended-snapshot-attributes:progress"] == "100%"
    assert shown["os-extended-snapshot-attributes:project_id"] == demo.project_id
    copy = path.with_name(f"snapshot-{snap['id']}")
    assert _sha(copy) == before
    # Holes stay holes: three MiB of data, not a GiB of blocks.
    assert copy.stat().st_blocks * 512 < 64 * MIB
    # Later writes to the volume do not reach the snapshot.
    _scribble(path, 2)
    assert _sha(copy) == before


async def test_snapshot_of_an_in_use_volume_needs_force(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vol['id']}/action",
        json={"os-attach": {"mountpoint": "/dev/vdb", "host_name": "h1"}}, headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    refused = await volume_client.post(
        _url(demo), json={"snapshot": {"volume_id": vol["id"]}}, headers=demo.headers
    )
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vol['id']} status must be available, but current status is: "
        "in-use."
    )
    snap = await _snapshot(volume_client, demo, vol["id"], force=True)
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    shown = await wait_status(volume_client, demo, vol["id"], "in-use")
    assert shown["status"] == "in-use"


async def test_snapshot_refusals(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    missing = "0b1ad6a1-0000-4000-8000-000000000000"
    resp = await volume_client.post(
        _url(demo), json={"snapshot": {"volume_id": missing}}, headers=demo.headers
    )
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Volume {missing} could not be found."
    # Another project's volume is not there for demo.
    theirs = await _volume(volume_client, admin, rt)
    resp = await volume_client.post(
        _url(demo), json={"snapshot": {"volume_id": theirs["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 404
    resp = await volume_client.post(
        _url(demo), json={"snapshot": {"volume_id": theirs["id"], "force": "maybe"}},
        headers=demo.headers,
    )
    assert resp.status_code == 400
    resp = await volume_client.post(_url(demo), json={"snapshot": {}}, headers=demo.headers)
    assert resp.status_code == 400
    assert "'volume_id' is a required property" in resp.json()["badRequest"]["message"]
    resp = await volume_client.get(_url(demo, f"/{missing}"), headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Snapshot {missing} could not be found."


async def test_volume_with_snapshots_is_kept_unless_cascade(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    snaps = [await _snapshot(volume_client, demo, vol["id"]) for _ in range(2)]
    for s in snaps:
        await _snapshot_status(volume_client, demo, s["id"], "available")
    url = f"/v3/{demo.project_id}/volumes/{vol['id']}"
    refused = await volume_client.delete(url, headers=demo.headers)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == DELETE_REFUSED
    assert (await volume_client.get(url, headers=demo.headers)).json()["volume"]["status"] == (
        "available"
    )
    resp = await volume_client.delete(url + "?cascade=true", headers=demo.headers)
    assert resp.status_code == 202
    assert (await volume_client.get(url, headers=demo.headers)).status_code == 404
    for s in snaps:
        assert (await volume_client.get(_url(demo, f"/{s['id']}"), headers=demo.headers)
                ).status_code == 404
    assert not list(rt.settings.volumes_dir.iterdir())


async def test_delete_snapshot_removes_its_bytes(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    resp = await volume_client.delete(_url(demo, f"/{snap['id']}"), headers=demo.headers)
    assert resp.status_code == 202
    assert (await volume_client.get(_url(demo, f"/{snap['id']}"), headers=demo.headers)
            ).status_code == 404
    assert not rt.volumes.path(vol["id"]).with_name(f"snapshot-{snap['id']}").exists()
    # The volume can go now.
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202


async def test_snapshot_in_error_can_be_deleted_and_creating_cannot(  # type: ignore[no-untyped-def]
    volume_client, demo, admin, rt
) -> None:
    vol = await _volume(volume_client, demo, rt)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    action = _url(admin, f"/{snap['id']}/action")
    # Only admins reset a status.
    resp = await volume_client.post(
        _url(demo, f"/{snap['id']}/action"), json={"os-reset_status": {"status": "creating"}},
        headers=demo.headers,
    )
    assert resp.status_code == 403
    resp = await volume_client.post(
        action, json={"os-reset_status": {"status": "creating"}}, headers=admin.headers
    )
    assert resp.status_code == 202, resp.text
    refused = await volume_client.delete(_url(demo, f"/{snap['id']}"), headers=demo.headers)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        "Invalid snapshot: Snapshot status must be available or error and must not be part "
        "of a group."
    )
    resp = await volume_client.post(
        action, json={"os-reset_status": {"status": "bogus"}}, headers=admin.headers
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"].startswith(
        "Snapshot status: bogus is invalid, valid statuses are: ('error', 'available', "
    )
    resp = await volume_client.post(
        action, json={"os-reset_status": {"status": "ERROR"}}, headers=admin.headers
    )
    assert resp.status_code == 202
    resp = await volume_client.delete(_url(demo, f"/{snap['id']}"), headers=demo.headers)
    assert resp.status_code == 202


async def test_update_snapshot_status_follows_cinders_rules(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    action = _url(demo, f"/{snap['id']}/action")
    resp = await volume_client.post(
        action, json={"os-update_snapshot_status": {"status": "error"}}, headers=demo.headers
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid snapshot: Provided snapshot status error not allowed for snapshot with status "
        "available."
    )
    resp = await volume_client.post(
        _url(admin, f"/{snap['id']}/action"), json={"os-reset_status": {"status": "creating"}},
        headers=admin.headers,
    )
    assert resp.status_code == 202
    for progress, message in (("x%", "progress must be an integer percentage"),
                              ("101%", "progress must be an integer percentage between 0 and 100")):
        resp = await volume_client.post(
            action, json={"os-update_snapshot_status": {"status": "creating",
                                                         "progress": progress}},
            headers=demo.headers,
        )
        assert resp.status_code == 400
        assert resp.json()["badRequest"]["message"] == f"Invalid input received: {message}"
    resp = await volume_client.post(
        action, json={"os-update_snapshot_status": {"status": "available", "progress": "90%"}},
        headers=demo.headers,
    )
    assert resp.status_code == 202
    shown = await volume_client.get(_url(demo, f"/{snap['id']}"), headers=demo.headers)
    assert shown.json()["snapshot"]["status"] == "available"
    assert shown.json()["snapshot"]["os-extended-snapshot-attributes:progress"] == "90%"


async def test_force_delete_is_for_admins(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    resp = await volume_client.post(
        _url(demo, f"/{snap['id']}/action"), json={"os-force_delete": {}}, headers=demo.headers
    )
    assert resp.status_code == 403
    resp = await volume_client.post(
        _url(admin, f"/{snap['id']}/action"), json={"os-force_delete": None},
        headers=admin.headers,
    )
    assert resp.status_code == 202, resp.text
    assert (await volume_client.get(_url(demo, f"/{snap['id']}"), headers=demo.headers)
            ).status_code == 404


async def test_update_and_metadata(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    snap = await _snapshot(volume_client, demo, vol["id"], metadata={"a": "1"})
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    url = _url(demo, f"/{snap['id']}")
    resp = await volume_client.put(url, json={"snapshot": {"name": "n2", "description": "d2"}},
                                   headers=demo.headers)
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["snapshot"]) == SNAPSHOT_KEYS
    assert (resp.json()["snapshot"]["name"], resp.json()["snapshot"]["description"]) == (
        "n2", "d2"
    )
    resp = await volume_client.put(url, json={"snapshot": {}}, headers=demo.headers)
    assert resp.status_code == 400
    resp = await volume_client.post(url + "/metadata", json={"metadata": {"b": "2"}},
                                    headers=demo.headers)
    assert resp.json() == {"metadata": {"a": "1", "b": "2"}}
    resp = await volume_client.put(url + "/metadata", json={"metadata": {"c": "3"}},
                                   headers=demo.headers)
    assert resp.json() == {"metadata": {"c": "3"}}
    resp = await volume_client.put(url + "/metadata/c", json={"meta": {"c": "4"}},
                                   headers=demo.headers)
    assert resp.json() == {"meta": {"c": "4"}}
    resp = await volume_client.get(url + "/metadata/c", headers=demo.headers)
    assert resp.json() == {"meta": {"c": "4"}}
    resp = await volume_client.put(url + "/metadata/c", json={"meta": {"d": "4"}},
                                   headers=demo.headers)
    assert resp.status_code == 400
    resp = await volume_client.delete(url + "/metadata/c", headers=demo.headers)
    assert resp.status_code == 200
    resp = await volume_client.get(url + "/metadata/c", headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Snapshot {snap['id']} has no metadata with key c."
    )
    resp = await volume_client.get(url + "/metadata", headers=demo.headers)
    assert resp.json() == {"metadata": {}}


async def test_list_detail_filters_pages_and_all_tenants(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    other = await _volume(volume_client, demo, rt)
    mine = [await _snapshot(volume_client, demo, vol["id"], name=f"s{i}") for i in range(3)]
    await _snapshot(volume_client, demo, other["id"], name="o")
    theirs_vol = await _volume(volume_client, admin, rt)
    theirs = await _snapshot(volume_client, admin, theirs_vol["id"], name="t")
    resp = await volume_client.get(_url(demo), headers=demo.headers)
    listed = resp.json()["snapshots"]
    assert len(listed) == 4
    assert all(set(s) == SNAPSHOT_KEYS for s in listed)
    resp = await volume_client.get(_url(demo, "/detail"), headers=demo.headers)
    assert all(set(s) == SNAPSHOT_KEYS | EXTENDED_KEYS for s in resp.json()["snapshots"])
    resp = await volume_client.get(_url(demo, f"?volume_id={vol['id']}"), headers=demo.headers)
    assert {s["id"] for s in resp.json()["snapshots"]} == {s["id"] for s in mine}
    resp = await volume_client.get(_url(demo, "?name=s1"), headers=demo.headers)
    assert [s["id"] for s in resp.json()["snapshots"]] == [mine[1]["id"]]
    # Pages, newest first, with a next link.
    resp = await volume_client.get(_url(demo, "?limit=2"), headers=demo.headers)
    page = resp.json()
    assert len(page["snapshots"]) == 2
    assert page["snapshots_links"][0]["rel"] == "next"
    nxt = page["snapshots_links"][0]["href"].split("/snapshots", 1)[1]
    resp = await volume_client.get(_url(demo, nxt), headers=demo.headers)
    ids = [s["id"] for s in page["snapshots"]] + [s["id"] for s in resp.json()["snapshots"]]
    assert len(set(ids)) == 4
    resp = await volume_client.get(_url(demo, "?sort=name:asc"), headers=demo.headers)
    assert [s["name"] for s in resp.json()["snapshots"]] == ["o", "s0", "s1", "s2"]
    resp = await volume_client.get(_url(demo, "?sort=name:asc&offset=1&limit=2"),
                                   headers=demo.headers)
    assert [s["name"] for s in resp.json()["snapshots"]] == ["s0", "s1"]
    resp = await volume_client.get(_url(demo, "?offset=-1"), headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "offset must be >= 0"
    resp = await volume_client.get(_url(demo, "?offset=x"), headers=demo.headers)
    assert resp.json()["badRequest"]["message"] == "offset must be an integer"
    resp = await volume_client.get(_url(demo, "?sort=bogus"), headers=demo.headers)
    assert resp.status_code == 400
    # all_tenants: admins see everyone's, others are silently limited to their own.
    resp = await volume_client.get(_url(admin, "?all_tenants=1"), headers=admin.headers)
    assert len(resp.json()["snapshots"]) == 5
    resp = await volume_client.get(_url(demo, "?all_tenants=1"), headers=demo.headers)
    assert theirs["id"] not in {s["id"] for s in resp.json()["snapshots"]}
    resp = await volume_client.get(_url(demo, "?marker=nope"), headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == "Snapshot nope could not be found."


async def test_volume_from_snapshot_has_its_bytes(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    path = rt.volumes.path(vol["id"])
    _scribble(path, 3)
    expected = _sha(path)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    _scribble(path, 4)  # the copy is of the snapshot, not of the volume now
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes", json={"volume": {"snapshot_id": snap["id"]}},
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()["volume"]
    assert set(body) == V30_KEYS
    assert body["snapshot_id"] == snap["id"]
    assert body["size"] == 1
    made = await wait_status(volume_client, demo, body["id"], "available")
    assert made["snapshot_id"] == snap["id"]
    assert _sha(rt.volumes.path(body["id"])) == expected
    # A larger copy: the same bytes, then zeros.
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes", json={"volume": {"snapshot_id": snap["id"], "size": 2}},
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    big = await wait_status(volume_client, demo, resp.json()["volume"]["id"], "available")
    big_path = rt.volumes.path(big["id"])
    assert big_path.stat().st_size == 2 * GIB
    head, tail = _read_head_and_tail(big_path)
    assert hashlib.sha256(head).hexdigest() == expected
    assert tail == bytes(MIB)


async def test_volume_from_snapshot_refusals(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt, size=2)
    snap = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, snap["id"], "available")
    url = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.post(
        url, json={"volume": {"snapshot_id": snap["id"], "size": 1}}, headers=demo.headers
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input received: Volume size '1'GB cannot be smaller than the snapshot size "
        "2GB. They must be >= original snapshot size."
    )
    missing = "0b1ad6a1-0000-4000-8000-000000000001"
    resp = await volume_client.post(url, json={"volume": {"snapshot_id": missing}},
                                    headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Snapshot {missing} could not be found."
    resp = await volume_client.post(
        _url(admin, f"/{snap['id']}/action"), json={"os-reset_status": {"status": "error"}},
        headers=admin.headers,
    )
    assert resp.status_code == 202
    resp = await volume_client.post(url, json={"volume": {"snapshot_id": snap["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid snapshot: Originating snapshot status must be one of 'available' values"
    )


async def test_clone_of_a_volume(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt, size=2)
    path = rt.volumes.path(vol["id"])
    _scribble(path, 5)
    expected = _sha(path)
    url = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.post(url, json={"volume": {"source_volid": vol["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    clone = await wait_status(volume_client, demo, resp.json()["volume"]["id"], "available")
    assert clone["source_volid"] == vol["id"]
    assert clone["size"] == 2
    assert _sha(rt.volumes.path(clone["id"])) == expected
    resp = await volume_client.post(url, json={"volume": {"source_volid": vol["id"], "size": 1}},
                                    headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input received: Volume size '1'GB cannot be smaller than original volume "
        "size  2GB. They must be >= original volume size."
    )
    theirs = await _volume(volume_client, admin, rt)
    resp = await volume_client.post(url, json={"volume": {"source_volid": theirs["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 404
    # A source in error is refused.
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/volumes/{vol['id']}/action",
        json={"os-reset_status": {"status": "error"}}, headers=admin.headers,
    )
    assert resp.status_code == 202
    resp = await volume_client.post(url, json={"volume": {"source_volid": vol["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid volume: Originating source volume status must be one of 'available, in-use' "
        "values"
    )


async def test_recover_fails_orphaned_creating_and_finishes_deleting(  # type: ignore[no-untyped-def]
    volume_client, demo, rt
) -> None:
    """What a crash leaves (rows set as a crash would leave them): `recover` fails
    a `creating` snapshot whose job is gone and finishes a `deleting` one."""
    from cinderlite import app as app_module
    from cinderlite.domain.clock import utcnow

    vol = await _volume(volume_client, demo, rt)
    done = await _snapshot(volume_client, demo, vol["id"])
    await _snapshot_status(volume_client, demo, done["id"], "available")
    async with rt.transaction() as db:
        db.add(Snapshot(
            id="0b1ad6a1-0000-4000-8000-00000000000a", project_id=demo.project_id,
            user_id="u", volume_id=vol["id"], name=None, description=None,
            status=SnapshotStatus.CREATING, progress="0%", volume_size=1, meta={},
            created_at=utcnow(), updated_at=None,
        ))
        row = await db.get(Snapshot, done["id"])
        assert row is not None
        row.status = SnapshotStatus.DELETING
    await app_module.recover(rt)
    resp = await volume_client.get(_url(demo, "/0b1ad6a1-0000-4000-8000-00000000000a"),
                                   headers=demo.headers)
    assert resp.json()["snapshot"]["status"] == "error"
    resp = await volume_client.get(_url(demo, f"/{done['id']}"), headers=demo.headers)
    assert resp.status_code == 404
    assert not rt.volumes.path(vol["id"]).with_name(f"snapshot-{done['id']}").exists()


async def test_v2_serves_snapshots(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, rt)
    resp = await volume_client.post(
        f"/v2/{demo.project_id}/snapshots", json={"snapshot": {"volume_id": vol["id"]}},
        headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    resp = await volume_client.get(f"/v2/{demo.project_id}/snapshots/detail",
                                   headers=demo.headers)
    assert resp.status_code == 200
    assert len(resp.json()["snapshots"]) == 1


async def test_snapshot_routes_answer_cinder_errors(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.patch(_url(demo), headers=demo.headers)
    assert resp.status_code == 405
    resp = await volume_client.post(_url(demo, "/x/action"), json={"os-bogus": {}},
                                    headers=demo.headers)
    assert resp.status_code == 400
    assert "There is no such action: os-bogus" in resp.json()["badRequest"]["message"]
    hdrs = {**demo.headers, "Content-Type": "application/json"}
    resp = await volume_client.post(_url(demo), content=b"{", headers=hdrs)
    assert resp.status_code == 400
