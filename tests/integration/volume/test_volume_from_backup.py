"""A volume made from a backup (`backup_id` in POST /volumes, 3.47): statuses,
sizes, refusals, bytes, a corrupt chunk and start-up recovery."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.integration.volume.test_backups import (
    _backup,
    _backup_status,
    _scribble,
    _sha,
    _store,
    _volume,
)
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

V347 = {"OpenStack-API-Version": "volume 3.47"}
MIB = 1 << 20


async def _backed_up(client, who, rt, size: int = 1):  # type: ignore[no-untyped-def]
    vol = await _volume(client, who, size=size)
    _scribble(rt.volumes.path(vol["id"]), (0, 3, 1000))
    made = await _backup(client, who, vol["id"])
    await _backup_status(client, who, made["id"], "available")
    await wait_status(client, who, vol["id"], "available")
    return vol, made


async def _from_backup(client, who, backup_id: str, **fields):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/v3/{who.project_id}/volumes",
        json={"volume": {"backup_id": backup_id, **fields}}, headers={**who.headers, **V347},
    )


async def test_volume_from_a_backup(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol, made = await _backed_up(volume_client, demo, rt)
    before = _sha(rt.volumes.path(vol["id"]))
    resp = await _from_backup(volume_client, demo, made["id"], name="restored")
    assert resp.status_code == 202, resp.text
    new = resp.json()["volume"]
    assert new["status"] == "creating"
    assert new["size"] == 1
    done = await wait_status(volume_client, demo, new["id"], "available")
    assert done["name"] == "restored"
    assert _sha(rt.volumes.path(new["id"])) == before
    # Holes stay holes: a few MiB of blocks, not a GiB.
    assert rt.volumes.path(new["id"]).stat().st_blocks * 512 < 32 * MIB
    shown = await _backup_status(volume_client, demo, made["id"], "available")
    assert shown["status"] == "available"
    # Bigger than the backup: the backup's bytes, then zeros.
    resp = await _from_backup(volume_client, demo, made["id"], size=2)
    assert resp.status_code == 202, resp.text
    big = await wait_status(volume_client, demo, resp.json()["volume"]["id"], "available")
    assert big["size"] == 2
    assert _sha(rt.volumes.path(big["id"]), 1 << 30) == before
    await _backup_status(volume_client, demo, made["id"], "available")


async def test_volume_from_a_backup_refusals(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    _, made = await _backed_up(volume_client, demo, rt, size=2)
    resp = await _from_backup(volume_client, demo, made["id"], size=1)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input received: Volume size 1GB cannot be smaller than the backup size 2GB. "
        "It must be >= backup size."
    )
    missing = str(uuid.uuid4())
    resp = await _from_backup(volume_client, demo, missing)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Backup {missing} could not be found."
    resp = await _from_backup(volume_client, demo, "not-a-uuid")
    assert resp.status_code == 400
    # Another project's backup is not found.
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/volumes", json={"volume": {"backup_id": made["id"]}},
        headers={**admin.headers, **V347},
    )
    assert resp.status_code == 202  # admins see every backup, as Cinder's policy says
    await wait_status(volume_client, admin, resp.json()["volume"]["id"], "available")
    await _backup_status(volume_client, demo, made["id"], "available")
    # A backup that is not available.
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/backups/{made['id']}/action",
        json={"os-reset_status": {"status": "error"}}, headers=admin.headers,
    )
    assert resp.status_code == 202
    resp = await _from_backup(volume_client, demo, made["id"])
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid backup: Originating backup status must be one of 'available' values"
    )
    # /v2 has no volumes from backups.
    resp = await volume_client.post(
        f"/v2/{demo.project_id}/volumes",
        json={"volume": {"backup_id": made["id"], "size": 2}}, headers=demo.headers,
    )
    assert resp.status_code == 404


async def test_corrupt_backup_leaves_the_new_volume_in_error(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, made = await _backed_up(volume_client, demo, rt)
    chunk = _store(rt, made["id"]) / "chunk-00000000"
    chunk.write_bytes(b"\x00" * len(chunk.read_bytes()))
    resp = await _from_backup(volume_client, demo, made["id"])
    assert resp.status_code == 202
    failed = await wait_status(volume_client, demo, resp.json()["volume"]["id"], "error")
    assert failed["status"] == "error"
    await _backup_status(volume_client, demo, made["id"], "available")


async def test_recovery_of_a_volume_from_backup_cut_short(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    """A crash that lost the job (or ran before it was claimed and the job is gone):
    start-up recovery makes the volume `error` and the backup `available`."""
    _, made = await _backed_up(volume_client, demo, rt)
    resp = await _from_backup(volume_client, demo, made["id"])
    new_id = resp.json()["volume"]["id"]
    await wait_status(volume_client, demo, new_id, "available")
    async with rt.db.write() as db:
        await db.execute(text("UPDATE volumes SET status = 'creating' WHERE id = :id"),
                         {"id": new_id})
        await db.execute(text("UPDATE backups SET status = 'restoring', "
                              "restore_volume_id = :v WHERE id = :id"),
                         {"id": made["id"], "v": new_id})
    await rt.services.backups.recover()
    await rt.services.volumes.recover()
    assert (await wait_status(volume_client, demo, new_id, "error"))["status"] == "error"
    await _backup_status(volume_client, demo, made["id"], "available")
