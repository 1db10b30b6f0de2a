"""A worker that lost its job to another one (paused past its lease) changes no
data: every job kind that renames finished data into place or writes into a
volume stops at its guard (workers/runner.JobContext.guard), and its fenced
writes record nothing.

Each case stops the runtime's own runner, lets a job be queued through the API,
claims it as worker A, and runs A's handler. At A's first guard call (right
before its rename, or its first write into a volume) worker B takes the job
over and "finishes" it (its data is put where the job's output goes), and A's
clock is moved past its lease, as a SIGSTOP there would. A must then raise
LeaseLost and leave B's data, the rows and the message list as they were.
The multi-process SIGSTOP trials (tests/integration/multiprocess) do the same
for uploads with real processes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from cinderlite.db.jobs import JobRepository
from cinderlite.db.models import Backup, Image, ImageTask, Job, Snapshot, UserMessage, Volume
from cinderlite.domain.clock import utcnow
from cinderlite.domain.jobs import Lease, LeaseLost
from cinderlite.storage.volumes.base import DataRef
from cinderlite.workers.runner import JobContext
from tests.conftest import wait_for
from tests.integration.volume.test_fill import add_image, create_from, pattern
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

MiB = 1 << 20
LEASE = 2
B_DATA = b"worker B finished this job\n" * 1000
needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing")


async def _claim_as_a(rt: Any, kind: str) -> JobContext:
    """Stop the runtime's runner, wait for the queued job of `kind`, claim it as A."""
    repo = JobRepository(rt.db)

    async def queued() -> Job | None:
        async with rt.sessionmaker() as db:
            return (await db.execute(
                select(Job).where(Job.kind == kind, Job.state == "queued")
            )).scalars().first()

    await wait_for(queued)
    job = await repo.claim_next(owner="host-a:1:a", now=utcnow(), lease_seconds=LEASE)
    assert job is not None
    assert job.kind == kind
    assert job.lease_token
    return JobContext(job=job, owner="host-a:1:a",
                      lease=Lease(job_id=job.id, token=job.lease_token, seconds=LEASE),
                      store=repo)


def _taken_over_at_first_guard(
    rt: Any, ctx: JobContext, b_finishes: Callable[[], Awaitable[None]],
) -> list[str]:
    """Make A's first guard call the moment B takes the job over and finishes it."""
    loop = asyncio.get_running_loop()
    real_guard = ctx.guard
    seen: list[str] = []

    async def take_over() -> None:
        async with rt.transaction() as db:
            await db.execute(update(Job).where(Job.id == ctx.job.id).values(
                lease_expires_at=utcnow() - timedelta(seconds=1)))
        b = await JobRepository(rt.db).claim_next(
            owner="host-b:2:b", now=utcnow(), lease_seconds=60)
        assert b is not None
        assert b.id == ctx.job.id
        assert b.lease_token != ctx.lease.token
        await b_finishes()

    def guard(wait: float | None = None) -> None:
        if not seen:
            seen.append("taken over")
            asyncio.run_coroutine_threadsafe(take_over(), loop).result(30)
            # A was paused here: by its own clock the lease ran out meanwhile.
            ctx.held_until = time.monotonic() - 1
        real_guard(wait)

    ctx.guard = guard  # type: ignore[method-assign]
    return seen


async def _run_as_a(handler: Callable[[JobContext], Awaitable[None]], ctx: JobContext) -> None:
    with pytest.raises(LeaseLost):
        await handler(ctx)
    assert ctx.lost or time.monotonic() >= ctx.held_until - ctx.margin


async def _messages(rt: Any) -> int:
    async with rt.sessionmaker() as db:
        return len((await db.execute(select(UserMessage))).scalars().all())


def _parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part" in p.name)


async def _write_b(path: Path) -> None:
    def write() -> None:
        with open(path, "wb") as fh:
            fh.write(B_DATA)

    await asyncio.to_thread(write)


async def _scribble(path: Path) -> None:
    """A MiB of random data at the start of a volume's file."""
    def write() -> None:
        with open(path, "r+b") as fh:
            fh.write(os.urandom(MiB))

    await asyncio.to_thread(write)


async def _available(client: Any, who: Any) -> dict[str, Any]:
    """A new 1 GiB volume, once `available`."""
    vol = await create(client, who, size=1)
    return dict(await wait_status(client, who, vol["id"], "available"))


async def _volume_status(rt: Any, volume_id: str) -> str:
    async with rt.sessionmaker() as db:
        vol = await db.get(Volume, volume_id)
        assert vol is not None
        return vol.status


@needs_qemu
@pytest.mark.parametrize("disk_format", ["raw", "qcow2"])
async def test_a_volume_fill_that_lost_its_job_places_nothing(  # type: ignore[no-untyped-def]
    volume_client, demo, rt, tmp_path: Path, disk_format: str,
) -> None:
    data = pattern(4 * MiB)
    if disk_format == "qcow2":
        raw = tmp_path / "src.raw"
        raw.write_bytes(data)
        qcow = tmp_path / "src.qcow2"
        await asyncio.to_thread(
            subprocess.run,
            ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow)],
            check=True, capture_output=True,
        )
        data = qcow.read_bytes()
    image_id = await add_image(rt, owner=demo.project_id, data=data, disk_format=disk_format,
                               virtual_size=4 * MiB)
    await rt.jobs.stop()
    resp = await create_from(volume_client, demo, image_id)
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    ctx = await _claim_as_a(rt, "fill")
    target = rt.volumes.path(volume_id)
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(target))
    before = await _messages(rt)

    await _run_as_a(rt.services.volumes.run_fill, ctx)

    assert seen == ["taken over"]
    assert target.read_bytes() == B_DATA
    assert _parts(target.parent) == []
    assert await _volume_status(rt, volume_id) == "creating"  # B's to end, not A's
    assert await _messages(rt) == before


async def test_a_clone_that_lost_its_job_places_nothing(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    source = await _available(volume_client, demo)
    await _scribble(rt.volumes.path(source["id"]))
    await rt.jobs.stop()
    clone = await create(volume_client, demo, size=1, source_volid=source["id"])
    ctx = await _claim_as_a(rt, "clone")
    target = rt.volumes.path(clone["id"])
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(target))

    await _run_as_a(rt.services.volumes.run_clone, ctx)

    assert seen == ["taken over"]
    assert target.read_bytes() == B_DATA
    assert _parts(target.parent) == []
    assert await _volume_status(rt, clone["id"]) == "creating"


async def test_a_snapshot_copy_that_lost_its_job_places_nothing(  # type: ignore[no-untyped-def]
    volume_client, demo, rt,
) -> None:
    vol = await _available(volume_client, demo)
    await rt.jobs.stop()
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/snapshots",
        json={"snapshot": {"volume_id": vol["id"], "name": "s"}}, headers=demo.headers)
    assert resp.status_code == 202, resp.text
    snapshot_id = resp.json()["snapshot"]["id"]
    ctx = await _claim_as_a(rt, "snapshot")
    target = rt.volumes.data_path(DataRef("snapshot", snapshot_id))
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(target))

    await _run_as_a(rt.services.snapshots.run_copy, ctx)

    assert seen == ["taken over"]
    assert target.read_bytes() == B_DATA
    assert _parts(target.parent) == []
    async with rt.sessionmaker() as db:
        snap = await db.get(Snapshot, snapshot_id)
        assert snap is not None
        assert snap.status == "creating"


async def test_a_backup_that_lost_its_job_places_nothing(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _available(volume_client, demo)
    await _scribble(rt.volumes.path(vol["id"]))
    await rt.jobs.stop()
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/backups", json={"backup": {"volume_id": vol["id"]}},
        headers=demo.headers)
    assert resp.status_code == 202, resp.text
    backup_id = resp.json()["backup"]["id"]
    ctx = await _claim_as_a(rt, "backup")
    backups_dir = Path(rt.settings.backups_dir)
    b_dir = backups_dir / backup_id

    async def b_finishes() -> None:
        b_dir.mkdir()
        await _write_b(b_dir / "worker-b")

    seen = _taken_over_at_first_guard(rt, ctx, b_finishes)

    await _run_as_a(rt.services.backups.run_backup, ctx)

    assert seen == ["taken over"]
    assert sorted(p.name for p in b_dir.iterdir()) == ["worker-b"]
    assert _parts(backups_dir) == []
    async with rt.sessionmaker() as db:
        backup = await db.get(Backup, backup_id)
        assert backup is not None
        assert backup.status == "creating"


async def test_a_restore_that_lost_its_job_writes_nothing_more(  # type: ignore[no-untyped-def]
    volume_client, demo, rt,
) -> None:
    vol = await _available(volume_client, demo)
    await _scribble(rt.volumes.path(vol["id"]))
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/backups", json={"backup": {"volume_id": vol["id"]}},
        headers=demo.headers)
    assert resp.status_code == 202, resp.text
    backup_id = resp.json()["backup"]["id"]

    async def available() -> bool:
        async with rt.sessionmaker() as db:
            backup = await db.get(Backup, backup_id)
            return backup is not None and backup.status == "available"

    await wait_for(available)
    target_vol = await _available(volume_client, demo)
    await rt.jobs.stop()
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/backups/{backup_id}/restore",
        json={"restore": {"volume_id": target_vol["id"]}}, headers=demo.headers)
    assert resp.status_code == 202, resp.text
    ctx = await _claim_as_a(rt, "restore")
    target = rt.volumes.path(target_vol["id"])
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(target))

    await _run_as_a(rt.services.backups.run_restore, ctx)

    assert seen == ["taken over"]
    assert target.read_bytes() == B_DATA
    assert await _volume_status(rt, target_vol["id"]) == "restoring-backup"


async def test_a_glance_direct_import_that_lost_its_job_places_nothing(  # type: ignore[no-untyped-def]
    image_client, demo, rt,
) -> None:
    resp = await image_client.post(
        "/v2/images", json={"name": "imp", "disk_format": "raw", "container_format": "bare"},
        headers=demo.headers)
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["id"]
    data = os.urandom(2 * MiB)
    resp = await image_client.put(
        f"/v2/images/{image_id}/stage", content=data,
        headers={**demo.headers, "Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    await rt.jobs.stop()
    resp = await image_client.post(
        f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}},
        headers=demo.headers)
    assert resp.status_code == 202, resp.text
    ctx = await _claim_as_a(rt, "image_import")
    stored = rt.images.data_path(image_id)
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(stored))

    await _run_as_a(rt.services.image_imports.run, ctx)

    assert seen == ["taken over"]
    assert stored.read_bytes() == B_DATA  # A neither replaced nor removed B's copy
    async with rt.sessionmaker() as db:
        image = await db.get(Image, image_id)
        assert image is not None
        assert image.status == "importing"
        tasks = (await db.execute(
            select(ImageTask).where(ImageTask.image_id == image_id))).scalars().all()
        assert [t.status for t in tasks] == ["processing"]

