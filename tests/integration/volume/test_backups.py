"""Backups through the ASGI volume API: bodies, statuses, messages, policies, the
chunk files in the backup store and the bytes of restored volumes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

MIB = 1 << 20
CHUNK = 1 * MIB  # the default backup_chunk_size
DETAIL_KEYS = {
    "id", "status", "size", "object_count", "availability_zone", "container", "created_at",
    "updated_at", "name", "description", "fail_reason", "volume_id", "links",
    "is_incremental", "has_dependent_backups", "snapshot_id", "data_timestamp",
}
V33 = {"OpenStack-API-Version": "volume 3.3"}
RESTORE_FAILED = "restore backup:Backup driver failed to restore backup."


def _url(who, path: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/v3/{who.project_id}/backups{path}"


def _scribble(path: Path, offsets_mib: tuple[int, ...], seed: bytes = b"") -> None:
    """A MiB of random data at each offset of a sparse volume file."""
    with open(path, "r+b") as fh:
        for k in offsets_mib:
            fh.seek(k * MIB)
            fh.write(seed + os.urandom(MIB - len(seed)))


def _sha(path: Path, length: int | None = None) -> str:
    h = hashlib.sha256()
    left = length if length is not None else os.path.getsize(path)
    with open(path, "rb") as fh:
        while left > 0 and (chunk := fh.read(min(8 * MIB, left))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


async def _volume(client, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    vol = await create(client, who, **fields)
    return await wait_status(client, who, vol["id"], "available")


async def _backup(client, who, volume_id: str, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        _url(who), json={"backup": {"volume_id": volume_id, **fields}}, headers=who.headers
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["backup"]


async def _backup_status(client, who, backup_id: str, status: str) -> dict:  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        resp = await client.get(_url(who, f"/{backup_id}"), headers=who.headers)
        body = resp.json().get("backup", {})
        return body if body.get("status") == status else None

    return await wait_for(check)


async def _restore(client, who, backup_id: str, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        _url(who, f"/{backup_id}/restore"), json={"restore": fields or None},
        headers=who.headers,
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["restore"]


def _store(rt, backup_id: str) -> Path:  # type: ignore[no-untyped-def]
    return rt.settings.backups_dir / backup_id


async def test_backup_and_restore_to_a_new_volume(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo, name="src")
    path = rt.volumes.path(vol["id"])
    _scribble(path, (0, 5, 700))
    before = _sha(path)
    made = await _backup(volume_client, demo, vol["id"], name=" b1 ", description="first")
    assert set(made) == {"id", "name", "links"}
    assert made["name"] == "b1"
    assert made["links"][0]["href"].endswith(f"/v3/{demo.project_id}/backups/{made['id']}")
    shown = await _backup_status(volume_client, demo, made["id"], "available")
    assert set(shown) == DETAIL_KEYS
    assert shown["size"] == 1
    assert shown["volume_id"] == vol["id"]
    assert shown["is_incremental"] is False
    assert shown["has_dependent_backups"] is False
    assert shown["description"] == "first"
    assert shown["fail_reason"] is None
    assert shown["container"] == f"{made['id'][:2]}/{made['id'][2:4]}/{made['id']}"
    # Three chunks of data, the rest holes: three chunk files, compressed, each with its sha256.
    assert shown["object_count"] == 3
    store = _store(rt, made["id"])
    assert sorted(p.name for p in store.iterdir()) == [
        "chunk-00000000", "chunk-00000005", "chunk-00000700", "metadata.json",
    ]
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert oct(rt.settings.backups_dir.stat().st_mode & 0o777) == "0o700"
    manifest = json.loads((store / "metadata.json").read_bytes())
    assert manifest["compression"] == "zlib"
    assert manifest["chunk_size"] == CHUNK
    assert sum(1 for c in manifest["chunks"] if c is not None) == 3
    volume = await wait_status(volume_client, demo, vol["id"], "available")
    assert volume["status"] == "available"

    restored = await _restore(volume_client, demo, made["id"])
    assert restored["backup_id"] == made["id"]
    assert restored["volume_name"] == f"restore_backup_{made['id']}"
    new = await wait_status(volume_client, demo, restored["volume_id"], "available")
    assert new["size"] == 1
    assert new["description"] == "auto-created_from_restore_from_backup"
    assert new["metadata"] == {"src_backup_id": made["id"]}
    new_path = rt.volumes.path(restored["volume_id"])
    assert _sha(new_path) == before
    # Holes were not written: about three MiB of blocks, not a GiB.
    assert new_path.stat().st_blocks * 512 < 32 * MIB
    assert (await _backup_status(volume_client, demo, made["id"], "available"))["status"] == (
        "available"
    )


async def test_incremental_backup_stores_only_changed_chunks(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    path = rt.volumes.path(vol["id"])
    resp = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": vol["id"], "incremental": True}},
        headers=demo.headers,
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid backup: No backups available to do an incremental backup."
    )
    _scribble(path, (0, 40, 80, 120))
    full = await _backup(volume_client, demo, vol["id"])
    full = await _backup_status(volume_client, demo, full["id"], "available")
    assert full["object_count"] == 4
    _scribble(path, (40,))
    after = _sha(path)
    incr = await _backup(volume_client, demo, vol["id"], incremental=True)
    incr = await _backup_status(volume_client, demo, incr["id"], "available")
    assert incr["is_incremental"] is True
    assert incr["object_count"] == 1
    assert sorted(p.name for p in _store(rt, incr["id"]).iterdir()) == [
        "chunk-00000040", "metadata.json",
    ]
    shown = (await volume_client.get(_url(demo, f"/{full['id']}"), headers=demo.headers)).json()
    assert shown["backup"]["has_dependent_backups"] is True
    # The parent cannot go while the incremental depends on it (Cinder's message).
    refused = await volume_client.delete(_url(demo, f"/{full['id']}"), headers=demo.headers)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        "Invalid backup: Incremental backups exist for this backup."
    )
    assert (await _backup_status(volume_client, demo, full["id"], "available"))
    # Restoring the incremental reads unchanged chunks from its parent.
    target = await _volume(volume_client, demo)
    _scribble(rt.volumes.path(target["id"]), (300, 0))  # stale data to be overwritten
    await _restore(volume_client, demo, incr["id"], volume_id=target["id"])
    await wait_status(volume_client, demo, target["id"], "available")
    assert _sha(rt.volumes.path(target["id"])) == after
    # The incremental, then the full one.
    for b in (incr, full):
        resp = await volume_client.delete(_url(demo, f"/{b['id']}"), headers=demo.headers)
        assert resp.status_code == 202
        assert (await volume_client.get(_url(demo, f"/{b['id']}"), headers=demo.headers)
                ).status_code == 404
        assert not _store(rt, b["id"]).exists()


async def test_in_use_volume_needs_force_and_returns_in_use(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vol['id']}/action",
        json={"os-attach": {"mountpoint": "/dev/vdb", "host_name": "h1"}}, headers=demo.headers,
    )
    assert resp.status_code == 202, resp.text
    refused = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": vol["id"]}}, headers=demo.headers
    )
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        "Invalid volume: Backing up an in-use volume must use the force flag."
    )
    made = await _backup(volume_client, demo, vol["id"], force=True)
    await _backup_status(volume_client, demo, made["id"], "available")
    assert (await wait_status(volume_client, demo, vol["id"], "in-use"))["status"] == "in-use"
    # An in-use volume is no restore target.
    resp = await volume_client.post(
        _url(demo, f"/{made['id']}/restore"), json={"restore": {"volume_id": vol["id"]}},
        headers=demo.headers,
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid volume: Volume to be restored to must be available"
    )


async def test_backup_refusals(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    missing = "0b1ad6a1-0000-4000-8000-000000000000"
    resp = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": missing}}, headers=demo.headers
    )
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Volume {missing} could not be found."
    theirs = await _volume(volume_client, admin)
    resp = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": theirs["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 404
    for body in ({}, {"volume_id": "nope"}, {"volume_id": missing, "force": "maybe"},
                 {"volume_id": missing, "metadata": {"a": "b"}}):
        resp = await volume_client.post(_url(demo), json={"backup": body}, headers=demo.headers)
        assert resp.status_code == 400, body
    resp = await volume_client.get(_url(demo, f"/{missing}"), headers=demo.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Backup {missing} could not be found."
    # Another project's backup does not exist for demo.
    b = await _backup(volume_client, admin, theirs["id"])
    await _backup_status(volume_client, admin, b["id"], "available")
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/restore")):
        resp = await volume_client.request(
            method, _url(demo, f"/{b['id']}{path}"), headers=demo.headers,
            json={"restore": None} if method == "POST" else None,
        )
        assert resp.status_code == 404, (method, path)
    # A volume smaller than the backup.
    small_backup_src = await _volume(volume_client, demo, size=2)
    big = await _backup(volume_client, demo, small_backup_src["id"])
    await _backup_status(volume_client, demo, big["id"], "available")
    small = await _volume(volume_client, demo, size=1)
    resp = await volume_client.post(
        _url(demo, f"/{big['id']}/restore"), json={"restore": {"volume_id": small["id"]}},
        headers=demo.headers,
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid volume: volume size 1 is too small to restore backup of size 2."
    )


async def test_listing_and_v2(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    made = []
    for i in range(3):
        # One at a time: the volume is backing-up while a backup is made.
        made.append(await _backup(volume_client, demo, vol["id"], name=f"b{i}"))
        await _backup_status(volume_client, demo, made[-1]["id"], "available")
        await wait_status(volume_client, demo, vol["id"], "available")
    resp = await volume_client.get(_url(demo), headers=demo.headers)
    assert [b["name"] for b in resp.json()["backups"]] == ["b2", "b1", "b0"]
    assert set(resp.json()["backups"][0]) == {"id", "name", "links"}
    resp = await volume_client.get(_url(demo, "/detail?limit=2&sort=name:asc"),
                                   headers=demo.headers)
    body = resp.json()
    assert [b["name"] for b in body["backups"]] == ["b0", "b1"]
    assert set(body["backups"][0]) == DETAIL_KEYS
    assert "marker=" in body["backups_links"][0]["href"]
    resp = await volume_client.get(_url(demo, "/detail?name=b1"), headers=demo.headers)
    assert [b["name"] for b in resp.json()["backups"]] == ["b1"]
    resp = await volume_client.get(f"/v2/{demo.project_id}/backups/{made[0]['id']}",
                                   headers=demo.headers)
    assert resp.status_code == 200
    assert resp.json()["backup"]["links"][0]["href"].endswith(
        f"/v2/{demo.project_id}/backups/{made[0]['id']}"
    )
    # Admins see everyone's with all_tenants; their own list is their own.
    resp = await volume_client.get(_url(admin), headers=admin.headers)
    assert resp.json()["backups"] == []
    resp = await volume_client.get(_url(admin, "?all_tenants=1"), headers=admin.headers)
    assert len(resp.json()["backups"]) == 3
    resp = await volume_client.get(_url(demo, "?sort=bogus"), headers=demo.headers)
    assert resp.status_code == 400


async def test_volume_with_backups_can_be_deleted(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    _scribble(rt.volumes.path(vol["id"]), (1,))
    before = _sha(rt.volumes.path(vol["id"]))
    b = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b["id"], "available")
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202
    restored = await _restore(volume_client, demo, b["id"], name="again")
    assert restored["volume_name"] == "again"
    await wait_status(volume_client, demo, restored["volume_id"], "available")
    assert _sha(rt.volumes.path(restored["volume_id"])) == before


async def test_backup_of_a_snapshot(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    path = rt.volumes.path(vol["id"])
    _scribble(path, (3,))
    at_snapshot = _sha(path)
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/snapshots", json={"snapshot": {"volume_id": vol["id"]}},
        headers=demo.headers,
    )
    snap_id = resp.json()["snapshot"]["id"]

    async def snap_available():  # type: ignore[no-untyped-def]
        r = await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap_id}",
                                    headers=demo.headers)
        return r.json()["snapshot"]["status"] == "available" or None

    await wait_for(snap_available)
    _scribble(path, (3,))  # the volume moves on; the snapshot does not
    b = await _backup(volume_client, demo, vol["id"], snapshot_id=snap_id)
    shown = await _backup_status(volume_client, demo, b["id"], "available")
    assert shown["snapshot_id"] == snap_id
    await wait_for(snap_available)
    restored = await _restore(volume_client, demo, b["id"])
    await wait_status(volume_client, demo, restored["volume_id"], "available")
    assert _sha(rt.volumes.path(restored["volume_id"])) == at_snapshot


async def test_corrupt_chunk_fails_the_restore(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    _scribble(rt.volumes.path(vol["id"]), (0, 9))
    b = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b["id"], "available")
    chunk = _store(rt, b["id"]) / "chunk-00000009"  # MiB 9: chunk 9 of 1 MiB
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    target = await _volume(volume_client, demo)
    await _restore(volume_client, demo, b["id"], volume_id=target["id"])
    failed = await wait_status(volume_client, demo, target["id"], "error_restoring")
    assert failed["status"] == "error_restoring"
    assert (await _backup_status(volume_client, demo, b["id"], "available"))
    resp = await volume_client.get(
        f"/v3/{demo.project_id}/messages?resource_uuid={b['id']}",
        headers={**demo.headers, **V33},
    )
    assert [m["user_message"] for m in resp.json()["messages"]] == [RESTORE_FAILED]
    # A volume in error_restoring may be deleted (Cinder's delete statuses).
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{target['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202


@pytest.mark.parametrize("tamper", [
    "path", "huge", "depth", "not-json", "missing-chunk", "bomb",
])
async def test_hostile_backup_files_are_refused(volume_client, demo, rt, tamper: str) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    _scribble(rt.volumes.path(vol["id"]), (0,))
    b = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b["id"], "available")
    store = _store(rt, b["id"])
    meta = json.loads((store / "metadata.json").read_bytes())
    if tamper == "path":
        meta["chunks"][0] = ["../../etc/passwd", 10, 0]
    elif tamper == "huge":
        meta["chunks"][0][1] = 1 << 40
    elif tamper == "depth":
        meta["chunks"][0][2] = 1
    elif tamper == "missing-chunk":
        (store / "chunk-00000000").unlink()
    elif tamper == "bomb":
        # A chunk that inflates far beyond a chunk's size, with a matching header entry.
        import zlib

        bomb = zlib.compress(bytes(64 * CHUNK), 9)
        (store / "chunk-00000000").write_bytes(bomb)
        meta["chunks"][0][1] = len(bomb)
    text = b"{nope" if tamper == "not-json" else json.dumps(meta).encode()
    (store / "metadata.json").write_bytes(text)
    target = await _volume(volume_client, demo)
    await _restore(volume_client, demo, b["id"], volume_id=target["id"])
    assert (await wait_status(volume_client, demo, target["id"], "error_restoring"))
    assert (await _backup_status(volume_client, demo, b["id"], "available"))


async def test_admin_actions(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    b = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b["id"], "available")
    action = _url(demo, f"/{b['id']}/action")
    resp = await volume_client.post(action, json={"os-reset_status": {"status": "error"}},
                                    headers=demo.headers)
    assert resp.status_code == 403
    admin_action = f"/v3/{admin.project_id}/backups/{b['id']}/action"
    resp = await volume_client.post(admin_action, json={"os-reset_status": {"status": "bogus"}},
                                    headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Backup status: bogus is invalid, valid statuses are: ['available', 'error']."
    )
    resp = await volume_client.post(admin_action, json={"os-reset_status": {"status": "Error"}},
                                    headers=admin.headers)
    assert resp.status_code == 202
    await _backup_status(volume_client, demo, b["id"], "error")
    # An error backup cannot be restored, but may be deleted.
    resp = await volume_client.post(_url(demo, f"/{b['id']}/restore"),
                                    json={"restore": None}, headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid backup: Backup status must be available"
    )
    await volume_client.post(admin_action, json={"os-reset_status": {"status": "available"}},
                             headers=admin.headers)
    # A force delete goes from any status; a plain one only from available or error.
    await wait_status(volume_client, demo, vol["id"], "available")
    b2 = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b2["id"], "available")
    resp = await volume_client.post(_url(demo, f"/{b2['id']}/action"),
                                    json={"os-force_delete": {}}, headers=demo.headers)
    assert resp.status_code == 403
    resp = await volume_client.post(f"/v3/{admin.project_id}/backups/{b2['id']}/action",
                                    json={"os-force_delete": {}}, headers=admin.headers)
    assert resp.status_code == 202
    assert (await volume_client.get(_url(demo, f"/{b2['id']}"), headers=demo.headers)
            ).status_code == 404
    assert not _store(rt, b2["id"]).exists()
    resp = await volume_client.post(action, json={"os-bogus": {}}, headers=demo.headers)
    assert resp.status_code == 400


async def test_delete_refused_while_restoring(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.domain.backups import BackupStatus

    vol = await _volume(volume_client, demo)
    b = await _backup(volume_client, demo, vol["id"])
    await _backup_status(volume_client, demo, b["id"], "available")
    async with rt.transaction() as db:
        from cinderlite.db.models import Backup

        row = await db.get(Backup, b["id"])
        row.status = BackupStatus.RESTORING
    resp = await volume_client.delete(_url(demo, f"/{b['id']}"), headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid backup: Backup status must be available or error"
    )
