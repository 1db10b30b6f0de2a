"""kill -9 of a real `python -m cinderlite serve` while group snapshots and groups
made from a group snapshot or another group are being made, then restart.

After each restart, once the jobs have run: no group, group snapshot, snapshot or
volume stays `creating`; an `available` group snapshot holds snapshots with exactly
its volumes' bytes, an `available` group made from a source holds copies with
exactly the source's bytes, and no half copy (`*.part`) is left behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cinderlite.db.models import Group, GroupSnapshot, Job, Snapshot, Volume
from tests.integration.upload.test_crash_recovery import Service, _token
from tests.integration.volume.test_snapshot_crash_recovery import _fill, _sha

pytestmark = pytest.mark.integration
V = {"OpenStack-API-Version": "volume 3.25"}


async def _state(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        groups = {r.id: (r.status, r.group_snapshot_id, r.source_group_id)
                  for r in await conn.execute(select(Group.id, Group.status,
                                                     Group.group_snapshot_id,
                                                     Group.source_group_id))}
        gsnaps = {r.id: r.status
                  for r in await conn.execute(select(GroupSnapshot.id, GroupSnapshot.status))}
        snaps = {r.id: (r.status, r.volume_id, r.group_snapshot_id)
                 for r in await conn.execute(select(Snapshot.id, Snapshot.status,
                                                    Snapshot.volume_id,
                                                    Snapshot.group_snapshot_id))}
        vols = {r.id: (r.status, r.group_id, r.snapshot_id, r.source_volid)
                for r in await conn.execute(select(Volume.id, Volume.status, Volume.group_id,
                                                   Volume.snapshot_id, Volume.source_volid))}
        jobs = [r.state for r in await conn.execute(select(Job.state))]
    return groups, gsnaps, snaps, vols, jobs


async def test_kill_9_during_group_snapshots_and_group_copies_leaves_nothing_stuck(
    tmp_path: Path, database_url: str
) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED", "cinderlite-groups"))
    svc = Service(tmp_path / "data", database_url)
    engine = create_async_engine(database_url)
    volumes_dir = svc.data_dir / "volumes"
    svc.start()
    try:
        token, project = await _token(svc)
        headers = {"X-Auth-Token": token, **V}
        base = f"/v3/{project}"
        async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers, timeout=30) as c:
            r = await c.post(f"{base}/group_types", json={"group_type": {"name": "crash"}})
            assert r.status_code == 202, r.text
            r = await c.post(f"{base}/groups", json={"group": {
                "group_type": "crash", "volume_types": ["__DEFAULT__"], "name": "src"}})
            assert r.status_code == 202, r.text
            source = r.json()["group"]["id"]
            members = []
            for i in range(2):
                r = await c.post(f"{base}/volumes", json={"volume": {
                    "size": 1, "name": f"m{i}", "group_id": source}})
                assert r.status_code == 202, r.text
                members.append(r.json()["volume"]["id"])
            for _ in range(300):
                _, _, _, vols, _ = await _state(engine)
                if all(vols.get(v, ("",))[0] == "available" for v in members):
                    break
                await asyncio.sleep(0.1)
        digests = {}
        for v in members:
            _fill(volumes_dir / f"volume-{v}")
            digests[v] = _sha(volumes_dir / f"volume-{v}")

        interrupted = 0
        for _round in range(3):
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                r = await c.post(f"{base}/group_snapshots",
                                 json={"group_snapshot": {"group_id": source}})
                assert r.status_code == 202, r.text
                r = await c.post(f"{base}/groups/action", json={"create-from-src": {
                    "source_group_id": source}})
                assert r.status_code == 202, r.text
                _, gsnaps, _, _, _ = await _state(engine)
                for gid, status in gsnaps.items():
                    if status == "available":
                        r = await c.post(f"{base}/groups/action", json={"create-from-src": {
                            "group_snapshot_id": gid}})
                        assert r.status_code == 202, r.text
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            *_, jobs = await _state(engine)
            interrupted += sum(state in ("queued", "running") for state in jobs)
            svc.kill9()
            svc.start()
            deadline = time.monotonic() + 180
            while True:
                groups, gsnaps, snaps, vols, jobs = await _state(engine)
                busy = (any(s == "creating" for s, _, _ in groups.values())
                        or any(s == "creating" for s in gsnaps.values())
                        or any(s == "creating" for s, _, _ in snaps.values())
                        or any(s == "creating" for s, _, _, _ in vols.values())
                        or any(j in ("queued", "running") for j in jobs))
                if not busy:
                    break
                assert time.monotonic() < deadline, (groups, gsnaps, snaps, vols, jobs)
                await asyncio.sleep(0.2)

        groups, gsnaps, snaps, vols, _ = await _state(engine)
        assert interrupted > 0, "no job was in flight at any kill: the test proved nothing"
        assert not list(volumes_dir.glob("*.part*"))
        for gid, status in gsnaps.items():
            assert status in ("available", "error"), (gid, status)
            taken = {sid: s for sid, s in snaps.items() if s[2] == gid}
            assert {s[1] for s in taken.values()} == set(members)
            for sid, (s_status, vid, _) in taken.items():
                if status == "available":
                    assert s_status == "available"
                    assert _sha(volumes_dir / f"snapshot-{sid}") == digests[vid], sid
                elif s_status != "available":
                    assert not (volumes_dir / f"snapshot-{sid}").exists(), sid
        made = 0
        for gid, (status, gsnap_id, source_id) in groups.items():
            if gid == source:
                continue
            assert status in ("available", "error"), (gid, status)
            copies = {vid: v for vid, v in vols.items() if v[1] == gid}
            assert len(copies) == len(members)
            for vid, (v_status, _, snapshot_id, source_volid) in copies.items():
                origin = source_volid or snaps[snapshot_id][1]
                if v_status == "available":
                    assert _sha(volumes_dir / f"volume-{vid}") == digests[origin], vid
            if status == "available":
                made += 1
                assert all(v[0] == "available" for v in copies.values())
                assert (gsnap_id is None) != (source_id is None)
        assert made > 0
    finally:
        svc.stop()
        await engine.dispose()
