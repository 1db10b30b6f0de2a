"""kill -9 of a real `python -m cinderlite serve` while snapshots and copies of volumes
are being made, then restart.

After each restart, once the jobs have run: no snapshot stays `creating`, no volume
stays `creating`; every `available` snapshot and copy holds exactly the bytes of its
source, every failed one left no file, and no half copy (`*.part`) is left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cinderlite.db.models import Job, Snapshot, Volume
from tests.integration.upload.test_crash_recovery import Service, _token

pytestmark = pytest.mark.integration
MIB = 1 << 20


def _fill(path: Path) -> None:
    with open(path, "r+b") as fh:
        for k in range(0, 256, 8):
            fh.seek(k * MIB)
            fh.write(os.urandom(2 * MIB))


def _sha(path: Path, size: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        left = size
        while True:
            chunk = fh.read(8 * MIB if left is None else min(8 * MIB, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
                if not left:
                    break
    return h.hexdigest()


async def _state(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        snaps = {r.id: (r.status, r.volume_id)
                 for r in await conn.execute(select(Snapshot.id, Snapshot.status,
                                                    Snapshot.volume_id))}
        vols = {r.id: (r.status, r.snapshot_id, r.source_volid)
                for r in await conn.execute(select(Volume.id, Volume.status, Volume.snapshot_id,
                                                   Volume.source_volid))}
        jobs = [r.state for r in await conn.execute(select(Job.state))]
    return snaps, vols, jobs


async def test_kill_9_during_snapshots_and_copies_leaves_nothing_stuck(
    tmp_path: Path, database_url: str
) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED", "cinderlite-snapshots"))
    svc = Service(tmp_path / "data", database_url)
    engine = create_async_engine(database_url)
    volumes_dir = svc.data_dir / "volumes"
    svc.start()
    try:
        token, project = await _token(svc)
        headers = {"X-Auth-Token": token}
        base = f"/v3/{project}"
        async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers, timeout=30) as c:
            sources = []
            for i in range(2):
                r = await c.post(f"{base}/volumes", json={"volume": {"size": 1, "name": f"s{i}"}})
                assert r.status_code == 202, r.text
                sources.append(r.json()["volume"]["id"])
            for _ in range(300):
                _, vols, _ = await _state(engine)
                if all(vols.get(v, ("",))[0] == "available" for v in sources):
                    break
                await asyncio.sleep(0.1)
        # Test shortcut: data straight into the sparse files (64 MiB of the GiB).
        digests = {}
        for v in sources:
            _fill(volumes_dir / f"volume-{v}")
            digests[v] = _sha(volumes_dir / f"volume-{v}")

        interrupted = 0
        for round_no in range(3):
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                snaps = []
                for v in sources:
                    r = await c.post(f"{base}/snapshots",
                                     json={"snapshot": {"volume_id": v, "name": f"r{round_no}"}})
                    assert r.status_code == 202, r.text
                    snaps.append(r.json()["snapshot"]["id"])
                    r = await c.post(f"{base}/volumes", json={"volume": {"source_volid": v}})
                    assert r.status_code == 202, r.text
                # Copies of earlier rounds' snapshots, when they made it.
                snap_rows, _, _ = await _state(engine)
                for sid, (status, _vid) in snap_rows.items():
                    if status == "available":
                        r = await c.post(f"{base}/volumes", json={"volume": {"snapshot_id": sid}})
                        assert r.status_code == 202, r.text
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            _, _, jobs = await _state(engine)
            interrupted += sum(state in ("queued", "running") for state in jobs)
            svc.kill9()
            svc.start()
            deadline = time.monotonic() + 180
            while True:
                snap_rows, vol_rows, jobs = await _state(engine)
                busy = (any(s == "creating" for s, _ in snap_rows.values())
                        or any(s == "creating" for s, _, _ in vol_rows.values())
                        or any(j in ("queued", "running") for j in jobs))
                if not busy:
                    break
                assert time.monotonic() < deadline, (snap_rows, vol_rows, jobs)
                await asyncio.sleep(0.2)

        snap_rows, vol_rows, _ = await _state(engine)
        assert interrupted > 0, "no job was in flight at any kill: the test proved nothing"
        assert not list(volumes_dir.glob("*.part*"))
        for sid, (status, vid) in snap_rows.items():
            path = volumes_dir / f"snapshot-{sid}"
            assert status in ("available", "error"), (sid, status)
            if status == "available":
                assert _sha(path) == digests[vid], sid
            else:
                assert not path.exists(), sid
        made = 0
        for vid, (status, snapshot_id, source_volid) in vol_rows.items():
            if vid in sources:
                assert status == "available"
                assert _sha(volumes_dir / f"volume-{vid}") == digests[vid]
                continue
            assert status in ("available", "error"), (vid, status)
            origin = source_volid or snap_rows[snapshot_id][1]
            if status == "available":
                made += 1
                assert _sha(volumes_dir / f"volume-{vid}") == digests[origin], vid
        assert made > 0
    finally:
        svc.stop()
        await engine.dispose()
