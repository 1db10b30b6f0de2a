"""Failed, cancelled and interrupted uploads: volume restored, image gone, user told."""

from __future__ import annotations

import errno
import os
import shutil

import httpx
import pytest

from cinderlite import app as app_module
from cinderlite.datapath import streams
from cinderlite.services.uploads import UploadRequest
from tests.conftest import make_settings, marked_options, wait_for
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
needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


@pytest.fixture
def settings(tmp_path, database_url, request):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path, database_url, qcow2_compression_type="bogus", image_compress_on_upload=True,
        **marked_options(request),
    )


async def _start(rt, who, vid, **kw):  # type: ignore[no-untyped-def]
    req = UploadRequest(image_name="img", **kw)
    return await rt.services.uploads.start(who.caller, vid, req, request_id="req-fail")


async def _ended(rt, job_id, within=60.0):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        job = await job_row(rt, job_id)
        return job if job.state in ("done", "failed", "cancelled") else None

    return await wait_for(check, within)


async def _assert_rolled_back(rt, started, vid, *, status="available", detail="004"):  # type: ignore[no-untyped-def]
    assert await volume_status(rt, vid) == status
    assert await image_row(rt, started.image.id) is None
    assert not rt.images.data_path(started.image.id).exists()
    assert staging_files(rt) == []
    msgs = await messages_for(rt, vid)
    assert [m.detail_id for m in msgs] == [detail]
    assert msgs[0].event_id == f"VOLUME_VOLUME_003_{detail}"
    assert msgs[0].request_id == "req-fail"


async def test_unwritable_store_restores_volume(
    rt: app_module.Runtime, demo, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"d")])
    before = volume_bytes(rt, vid)
    monkeypatch.setattr(rt.images, "staging_dir", tmp_path / "gone" / "staging")
    started = await _start(rt, demo, vid)
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    monkeypatch.undo()
    await _assert_rolled_back(rt, started, vid)
    assert volume_bytes(rt, vid) == before


@needs_qemu
async def test_qemu_img_failure_restores_in_use_volume(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=demo.project_id,
        status="in-use",
        attached=True,
        file_bytes=MIB,
        data=[(0, b"d")],
    )
    started = await _start(rt, demo, vid, disk_format="qcow2", force=True)
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    assert "qemu-img convert failed" in job.error
    await _assert_rolled_back(rt, started, vid, status="in-use")


async def test_full_disk_restores_volume_with_quota_message(
    rt: app_module.Runtime, demo, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=demo.project_id,
        file_bytes=4 * MIB,
        data=[(0, os.urandom(MIB)), (2 * MIB, os.urandom(MIB))],
    )
    real = os.pwrite
    staging = str(rt.images.staging_dir)

    def full(fd, data, offset):  # type: ignore[no-untyped-def]
        if os.readlink(f"/proc/self/fd/{fd}").startswith(staging) and offset >= MIB:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(streams.os, "pwrite", full)
    started = await _start(rt, demo, vid)
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    assert job.error.startswith("StorageFull")
    monkeypatch.undo()
    await _assert_rolled_back(rt, started, vid, detail="006")


@pytest.mark.settings(image_conversion_disable=True)
async def test_conversion_disabled_fails_after_202(tmp_path, database_url, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"d")])
    started = await _start(rt, demo, vid, disk_format="vmdk")
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    assert "Image conversion is disabled" in job.error
    await _assert_rolled_back(rt, started, vid)


async def _slow_volume(rt, who):  # type: ignore[no-untyped-def]
    # 4 GiB with 64 MiB of data: hashing the holes keeps the copy busy for seconds.
    return await make_volume(
        rt,
        project_id=who.project_id,
        size_gib=4,
        data=[(i * 64 * MIB, os.urandom(MIB)) for i in range(64)],
    )


async def _running(rt, job_id):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        p = rt.jobs.progress(job_id)
        return p is not None and p[0] > 0

    await wait_for(check, 60)


async def test_deleting_the_image_cancels_the_upload(
    rt: app_module.Runtime, demo, image_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await _slow_volume(rt, demo)
    started = await _start(rt, demo, vid)
    await _running(rt, started.job_id)
    resp = await image_client.delete(f"/v2/images/{started.image.id}", headers=demo.headers)
    assert resp.status_code == 204, resp.text
    job = await _ended(rt, started.job_id, within=20)
    assert job.state == "cancelled"
    assert await volume_status(rt, vid) == "available"
    assert staging_files(rt) == []
    assert await image_row(rt, started.image.id) is None


async def test_image_row_vanishing_stops_the_copy(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from cinderlite.db.models import Image

    vid = await _slow_volume(rt, demo)
    started = await _start(rt, demo, vid)
    await _running(rt, started.job_id)
    async with rt.transaction() as db:  # another process deletes the row only
        await db.execute(delete(Image).where(Image.id == started.image.id))
    job = await _ended(rt, started.job_id, within=20)
    assert job.state == "failed"
    assert "deleted while the upload ran" in job.error
    assert await volume_status(rt, vid) == "available"
    assert staging_files(rt) == []
