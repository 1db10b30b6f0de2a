"""What a crash leaves of groups and group snapshots, mended by `recover` at start-up:
the states each step's transaction can leave behind are made in the database (as a
`kill -9` between two steps leaves them) and `app.recover` runs."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from cinderlite import app as app_module
from cinderlite.db.models import Group, GroupSnapshot, Snapshot, Volume
from cinderlite.domain.clock import utcnow
from tests.integration.volume.test_groups import (
    _h,
    group_type,
    make_group,
    volume_in,
    volume_type,
)

pytestmark = pytest.mark.integration


async def _status(rt, model, row_id: str) -> str | None:  # type: ignore[no-untyped-def]
    async with rt.db.read() as db:
        row = await db.get(model, row_id)
        return None if row is None else str(row.status)


async def test_recover_settles_and_finishes_what_a_crash_left(
    volume_client, admin, demo, rt
) -> None:  # type: ignore[no-untyped-def]
    await volume_type(rt, "t1")
    gtype = await group_type(volume_client, admin)
    made = await make_group(volume_client, demo, gtype, ["t1"])
    vol = await volume_in(volume_client, demo, made["id"], "t1")
    now = utcnow()
    # 1. A group snapshot whose snapshot's job was lost: the snapshot fails, and so
    #    does the group snapshot.
    gs_id, snap_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with rt.db.write() as db:
        db.add(GroupSnapshot(id=gs_id, group_id=made["id"], project_id=demo.project_id,
                             user_id="u", name=None, description=None, status="creating",
                             group_type_id=gtype, created_at=now))
        await db.flush()
        db.add(Snapshot(id=snap_id, project_id=demo.project_id, user_id="u",
                        volume_id=vol["id"], status="creating", progress="0%", volume_size=1,
                        meta={}, created_at=now, group_snapshot_id=gs_id))
    # 2. A group made from a source whose copy ended just before the crash (its job
    #    done, the group not yet settled).
    src_group = str(uuid.uuid4())
    copy_id = str(uuid.uuid4())
    async with rt.db.write() as db:
        db.add(Group(id=src_group, project_id=demo.project_id, user_id="u", status="creating",
                     availability_zone="nova", group_type_id=gtype, source_group_id=made["id"],
                     replication_status="disabled", created_at=now))
        await db.flush()
        db.add(Volume(id=copy_id, project_id=demo.project_id, user_id="u", size=1,
                      status="available", volume_type_id=None, created_at=now, meta={},
                      image_meta={}, admin_meta={}, group_id=src_group))
    await rt.volumes.create(copy_id, 1 << 30)
    # 3. A group delete that committed `deleting` and was killed before the bytes went.
    doomed = await make_group(volume_client, demo, gtype, ["t1"])
    member = await volume_in(volume_client, demo, doomed["id"], "t1")
    async with rt.db.write() as db:
        (await db.get(Group, doomed["id"])).status = "deleting"  # type: ignore[union-attr]
        (await db.get(Volume, member["id"])).status = "deleting"  # type: ignore[union-attr]
    assert rt.volumes.path(member["id"]).exists()

    await app_module.recover(rt)

    assert await _status(rt, Snapshot, snap_id) == "error"
    assert await _status(rt, GroupSnapshot, gs_id) == "error"
    assert await _status(rt, Group, src_group) == "available"
    assert await _status(rt, Group, doomed["id"]) is None
    assert await _status(rt, Volume, member["id"]) is None
    assert not rt.volumes.path(member["id"]).exists()
    # The error group snapshot can be deleted, and its snapshot goes with it.
    resp = await volume_client.delete(f"/v3/{demo.project_id}/group_snapshots/{gs_id}",
                                      headers=_h(demo))
    assert resp.status_code == 202
    async with rt.db.read() as db:
        left = (await db.execute(select(Snapshot.id).where(Snapshot.id == snap_id))).all()
    assert left == []
