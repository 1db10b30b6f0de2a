"""Start-up recovery and restart of re-claimed jobs, with crafted half-done states."""

from __future__ import annotations

import hashlib
import socket
import uuid
from datetime import timedelta

import pytest

from cinderlite import app as app_module
from cinderlite.db import jobs as jobs_db
from cinderlite.db.models import Image, Job
from cinderlite.domain.clock import utcnow
from cinderlite.services import upload_worker
from tests.conftest import wait_for
from tests.integration.upload.conftest import (
    MIB,
    image_row,
    job_row,
    make_volume,
    messages_for,
    staging_files,
    volume_bytes,
    volume_status,
)

pytestmark = pytest.mark.integration


async def _crafted(rt, who, *, job_state, image_status, lease_owner=None, attempts=1):  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=who.project_id,
        status="uploading",
        file_bytes=4 * MIB,
        data=[(MIB, b"payload" * 1000)],
    )
    image_id = str(uuid.uuid4())
    now = utcnow()
    async with rt.transaction() as db:
        db.add(
            Image(
                id=image_id,
                name="half",
                owner=who.project_id,
                status=image_status,
                visibility="private",
                protected=False,
                os_hidden=False,
                disk_format="raw",
                container_format="bare",
                min_disk=0,
                min_ram=0,
                properties={},
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
        job = await jobs_db.enqueue(
            db,
            kind="upload",
            volume_id=vid,
            image_id=image_id,
            project_id=who.project_id,
            user_id=None,
            request_id=None,
            now=now,
            bytes_total=4 * MIB,
            params={"disk_format": "raw", "container_format": "bare"},
        )
        job.state = job_state
        job.attempts = attempts
        job.lease_owner = lease_owner
        job.lease_expires_at = now + timedelta(seconds=300) if lease_owner else None
    # What a crash mid-copy leaves: a staging file of the image.
    (rt.images.staging_dir / f"{image_id}.{uuid.uuid4().hex[:8]}").write_bytes(b"half-written")
    return vid, image_id, job.id


async def test_recover_rolls_back_uploads_whose_job_ended(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid, image_id, _ = await _crafted(rt, demo, job_state="failed", image_status="saving")
    orphan = rt.images.staging_dir / f"{uuid.uuid4()}.deadbeef"
    orphan.write_bytes(b"x")
    await rt.services.upload_worker.recover()
    assert await volume_status(rt, vid) == "available"
    assert await image_row(rt, image_id) is None
    assert staging_files(rt) == []
    [msg] = await messages_for(rt, vid)
    assert msg.detail_id == "901"
    await rt.services.upload_worker.recover()  # idempotent
    assert len(await messages_for(rt, vid)) == 1


async def test_recover_leaves_other_queued_images_and_live_jobs(
    rt: app_module.Runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    await rt.jobs.stop()
    vid, image_id, job_id = await _crafted(rt, demo, job_state="queued", image_status="queued")
    glance_image = str(uuid.uuid4())
    now = utcnow()
    async with rt.transaction() as db:
        db.add(
            Image(
                id=glance_image,
                name="mine",
                owner=demo.project_id,
                status="queued",
                visibility="private",
                protected=False,
                os_hidden=False,
                min_disk=0,
                min_ram=0,
                properties={},
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
    await rt.services.upload_worker.recover()
    assert await volume_status(rt, vid) == "uploading"
    assert (await image_row(rt, image_id)).status == "queued"
    assert (await image_row(rt, glance_image)).status == "queued"
    # The job's own staging file is kept; the run starts it over.
    assert len(staging_files(rt)) == 1
    await rt.jobs.start()

    async def done():  # type: ignore[no-untyped-def]
        return (await job_row(rt, job_id)).state == "done"

    await wait_for(done)
    assert (await image_row(rt, image_id)).status == "active"
    assert await volume_status(rt, vid) == "available"


async def test_job_of_a_dead_process_starts_over_cleanly(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    dead = f"{socket.gethostname()}:999999:deadbeef"
    vid, image_id, job_id = await _crafted(
        rt, demo, job_state="running", image_status="saving", lease_owner=dead
    )
    await rt.jobs.release_dead_local_leases()
    rt.jobs.wake()

    async def done():  # type: ignore[no-untyped-def]
        return await job_row(rt, job_id) if (await job_row(rt, job_id)).state != "running" else None

    job = await wait_for(done)
    assert job.state == "done", job.error
    assert job.attempts == 2
    image = await image_row(rt, image_id)
    data = volume_bytes(rt, vid)
    assert image.status == "active"
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert rt.images.data_path(image_id).read_bytes() == data
    assert staging_files(rt) == []
    assert await volume_status(rt, vid) == "available"


async def test_job_past_max_attempts_is_rolled_back(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    dead = f"{socket.gethostname()}:999999:deadbeef"
    vid, image_id, job_id = await _crafted(
        rt,
        demo,
        job_state="running",
        image_status="saving",
        lease_owner=dead,
        attempts=upload_worker.MAX_ATTEMPTS,
    )
    await rt.jobs.release_dead_local_leases()
    rt.jobs.wake()

    async def ended():  # type: ignore[no-untyped-def]
        job: Job = await job_row(rt, job_id)
        return job if job.state in ("done", "failed") else None

    job = await wait_for(ended)
    assert job.state == "failed"
    assert await image_row(rt, image_id) is None
    assert await volume_status(rt, vid) == "available"
    assert staging_files(rt) == []


@pytest.mark.parametrize("volume_status_before", ["available", "uploading"])
async def test_rerun_of_a_finished_upload_only_settles_the_volume(
    rt: app_module.Runtime, demo, volume_status_before: str
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from cinderlite.db.models import Volume

    dead = f"{socket.gethostname()}:999999:deadbeef"
    vid, image_id, job_id = await _crafted(
        rt, demo, job_state="running", image_status="active", lease_owner=dead
    )
    rt.images.data_path(image_id).write_bytes(b"committed")
    async with rt.transaction() as db:
        await db.execute(update(Volume).where(Volume.id == vid).values(status=volume_status_before))
    await rt.jobs.release_dead_local_leases()
    rt.jobs.wake()

    async def ended():  # type: ignore[no-untyped-def]
        job = await job_row(rt, job_id)
        return job if job.state != "running" else None

    job = await wait_for(ended)
    assert job.state == "done", job.error
    assert (await image_row(rt, image_id)).status == "active"
    assert rt.images.data_path(image_id).read_bytes() == b"committed"
    assert staging_files(rt) == []
    assert await volume_status(rt, vid) == "available"
    assert await messages_for(rt, vid) == []
