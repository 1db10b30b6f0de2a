"""kill -9 of a real `python -m cinderlite serve` while backups and restores run,
then restart.

After each restart, once the jobs have run: no backup stays `creating` or
`restoring`, no volume stays `backing-up` or `restoring-backup`; every
`available` backup restores to exactly the bytes of its volume, every failed one
left no chunk files, and no unfinished backup directory (`*.part`) is left.
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

from cinderlite.db.models import Backup, Job, Volume
from tests.integration.upload.test_crash_recovery import Service, _token
from tests.integration.volume.test_snapshot_crash_recovery import _fill, _sha

pytestmark = pytest.mark.integration

STUCK_BACKUP = ("creating", "restoring", "deleting")
STUCK_VOLUME = ("creating", "backing-up", "restoring-backup", "deleting")


async def _state(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        backups = {r.id: (r.status, r.volume_id, r.parent_id)
                   for r in await conn.execute(select(Backup.id, Backup.status,
                                                      Backup.volume_id, Backup.parent_id))}
        vols = {r.id: (r.status, r.name)
                for r in await conn.execute(select(Volume.id, Volume.status, Volume.name))}
        jobs = [r.state for r in await conn.execute(select(Job.state))]
    return backups, vols, jobs


async def _settle(engine) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 180
    while True:
        backups, vols, jobs = await _state(engine)
        busy = (any(s in STUCK_BACKUP for s, _, _ in backups.values())
                or any(s in STUCK_VOLUME for s, _ in vols.values())
                or any(j in ("queued", "running") for j in jobs))
        if not busy:
            return
        assert time.monotonic() < deadline, (backups, vols, jobs)
        await asyncio.sleep(0.2)


async def test_kill_9_during_backups_and_restores_leaves_nothing_stuck(
    tmp_path: Path, database_url: str
) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED", "cinderlite-backups"))
    svc = Service(tmp_path / "data", database_url)
    engine = create_async_engine(database_url)
    volumes_dir = svc.data_dir / "volumes"
    backups_dir = svc.data_dir / "backups"
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
        # Test shortcut: data straight into the sparse files (64 MiB of the GiB);
        # the sources are only read from here on.
        digests = {}
        for v in sources:
            _fill(volumes_dir / f"volume-{v}")
            digests[v] = _sha(volumes_dir / f"volume-{v}")

        interrupted = 0
        for round_no in range(3):
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                backups, vols, _ = await _state(engine)
                for v in sources:
                    incremental = any(s == "available" and vid == v
                                      for s, vid, _ in backups.values())
                    r = await c.post(f"{base}/backups", json={"backup": {
                        "volume_id": v, "name": f"r{round_no}", "incremental": incremental}})
                    assert r.status_code == 202, r.text
                # Restores of earlier rounds' backups, when they made it.
                for bid, (status, _vid, _p) in backups.items():
                    if status == "available":
                        r = await c.post(f"{base}/backups/{bid}/restore",
                                         json={"restore": {"name": f"from-{bid}"}})
                        assert r.status_code == 202, r.text
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            _, _, jobs = await _state(engine)
            interrupted += sum(state in ("queued", "running") for state in jobs)
            svc.kill9()
            svc.start()
            await _settle(engine)

        backups, vols, _ = await _state(engine)
        assert interrupted > 0, "no job was in flight at any kill: the test proved nothing"
        assert not list(backups_dir.glob("*.part*"))
        for bid, (status, _vid, _p) in backups.items():
            assert status in ("available", "error"), (bid, status)
            has_bytes = (backups_dir / bid / "metadata.json").exists()
            assert has_bytes == (status == "available"), bid
        restored = 0
        for vid, (status, name) in vols.items():
            if vid in sources:
                assert status == "available"
                assert _sha(volumes_dir / f"volume-{vid}") == digests[vid]
                continue
            assert status in ("available", "error_restoring"), (vid, status)
            assert name.startswith("from-")
            origin = backups[name.removeprefix("from-")][1]
            if status == "available":
                restored += 1
                assert _sha(volumes_dir / f"volume-{vid}") == digests[origin], vid
        assert restored > 0
        # Every available backup restores to its volume's bytes after all that.
        async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers, timeout=30) as c:
            targets = {}
            for bid, (status, vid, _p) in backups.items():
                if status == "available":
                    r = await c.post(f"{base}/backups/{bid}/restore", json={"restore": None})
                    assert r.status_code == 202, r.text
                    targets[r.json()["restore"]["volume_id"]] = vid
        await _settle(engine)
        _, vols, _ = await _state(engine)
        for vid, origin in targets.items():
            assert vols[vid][0] == "available"
            assert _sha(volumes_dir / f"volume-{vid}") == digests[origin], vid
    finally:
        svc.stop()
        await engine.dispose()
