"""The upload worker end to end through start_upload: real files, real qemu-img, real DB."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import shutil
import subprocess
import uuid

import pytest

from cinderlite import app as app_module
from cinderlite.services.uploads import UploadRequest
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

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


async def _upload(rt, caller, volume_id, **kw):  # type: ignore[no-untyped-def]
    req = UploadRequest(image_name=kw.pop("image_name", "img"), **kw)
    return await rt.services.uploads.start(caller, volume_id, req, request_id="req-test")


async def _wait_job(rt, job_id, within=60.0):  # type: ignore[no-untyped-def]
    async def done():  # type: ignore[no-untyped-def]
        job = await job_row(rt, job_id)
        return job if job.state in ("done", "failed", "cancelled") else None

    return await wait_for(done, within)


async def test_raw_upload_streams_volume_bytes_sparse(
    rt: app_module.Runtime, demo, random_mib
) -> None:  # type: ignore[no-untyped-def]
    chunks = [(0, random_mib(1)), (5 * MIB, random_mib(2)), (31 * MIB, b"tail")]
    vid = await make_volume(rt, project_id=demo.project_id, data=chunks, file_bytes=32 * MIB)
    started = await _upload(rt, demo.caller, vid)
    assert await volume_status(rt, vid) == "uploading"
    job = await _wait_job(rt, started.job_id)
    assert job.state == "done", job.error
    image = await image_row(rt, started.image.id)
    want = volume_bytes(rt, vid)
    assert image.status == "active"
    assert image.size == len(want) == 32 * MIB
    assert image.virtual_size == len(want)
    assert image.checksum == hashlib.md5(want).hexdigest()
    assert image.os_hash_algo == "sha512"
    assert image.os_hash_value == hashlib.sha512(want).hexdigest()
    stored = rt.images.data_path(image.id)
    assert stored.read_bytes() == want
    # Written sparse: only the data extents took blocks.
    assert stored.stat().st_blocks * 512 < 8 * MIB
    assert await volume_status(rt, vid) == "available"
    assert staging_files(rt) == []


async def test_upload_of_attached_volume_ends_in_use(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=demo.project_id,
        status="in-use",
        attached=True,
        file_bytes=MIB,
        data=[(0, b"x" * 4096)],
    )
    started = await _upload(rt, demo.caller, vid, force=True)
    job = await _wait_job(rt, started.job_id)
    assert job.state == "done", job.error
    assert await volume_status(rt, vid) == "in-use"


@needs_qemu
@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "vdi", "vhd", "vhdx", "ploop"])
async def test_converted_upload_is_identical_to_volume(
    rt: app_module.Runtime, demo, random_mib, disk_format: str
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=demo.project_id,
        file_bytes=16 * MIB,
        data=[(0, random_mib(1)), (9 * MIB, random_mib(1))],
    )
    started = await _upload(rt, demo.caller, vid, disk_format=disk_format)
    job = await _wait_job(rt, started.job_id)
    assert job.state == "done", job.error
    image = await image_row(rt, started.image.id)
    stored = rt.images.data_path(image.id)
    data = stored.read_bytes()
    assert image.status == "active"
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert image.virtual_size is not None
    assert image.virtual_size >= 16 * MIB
    fmt = {"vhd": "vpc", "ploop": "parallels"}.get(disk_format, disk_format)
    await asyncio.to_thread(
        subprocess.run,
        ["qemu-img", "compare", "-f", "raw", "-F", fmt, str(rt.volumes.path(vid)), str(stored)],
        check=True,
        capture_output=True,
    )
    assert staging_files(rt) == []
    assert await volume_status(rt, vid) == "available"


async def test_iso_upload_fails_when_volume_is_not_iso(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"no")])
    started = await _upload(rt, demo.caller, vid, disk_format="iso")
    job = await _wait_job(rt, started.job_id)
    assert job.state == "failed"
    assert await image_row(rt, started.image.id) is None
    assert await volume_status(rt, vid) == "available"
    [msg] = await messages_for(rt, vid)
    assert msg.detail_id == "900"
    assert msg.event_id == "VOLUME_VOLUME_003_900"


async def test_iso_upload_makes_image_from_iso_data(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt, project_id=demo.project_id, file_bytes=MIB, data=[(32769, b"CD001\x01")]
    )
    started = await _upload(rt, demo.caller, vid, disk_format="iso")
    job = await _wait_job(rt, started.job_id)
    assert job.state == "done", job.error
    image = await image_row(rt, started.image.id)
    assert image.status == "active"
    assert image.disk_format == "iso"
    assert rt.images.data_path(image.id).read_bytes() == volume_bytes(rt, vid)


async def test_null_container_format_fails_after_202_like_glance(
    rt: app_module.Runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"x")])
    started = await _upload(rt, demo.caller, vid, container_format=None)
    job = await _wait_job(rt, started.job_id)
    assert job.state == "failed"
    assert "container_format must be set" in job.error
    assert await image_row(rt, started.image.id) is None
    assert await volume_status(rt, vid) == "available"
    assert [m.detail_id for m in await messages_for(rt, vid)] == ["004"]


async def _add_image(
    rt: app_module.Runtime, project_id: str, status: str, disk_format: str = "raw"
) -> str:
    """An image row in `status` (as the upload action would have made it)."""
    from cinderlite.db.models import Image
    from cinderlite.domain.clock import utcnow

    image_id = str(uuid.uuid4())
    now = utcnow()
    async with rt.transaction() as db:
        db.add(Image(
            id=image_id, name="i", owner=project_id, status=status, visibility="private",
            protected=False, os_hidden=False, min_disk=0, min_ram=0, properties={}, tags=[],
            disk_format=disk_format, container_format="bare", created_at=now, updated_at=now,
        ))
    return image_id


@pytest.mark.parametrize(
    ("volume", "image", "started"),
    [
        ("uploading", "queued", True),
        ("available", "queued", False),  # the volume was reset meanwhile
        ("uploading", "saving", False),  # a half-done attempt: _prepare's case
        ("uploading", "active", False),
    ],
)
async def test_begin_saving_starts_only_a_fresh_upload(
    rt: app_module.Runtime, demo, volume: str, image: str, started: bool
) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.db import uploads as uploads_db
    from cinderlite.domain.clock import utcnow

    vid = await make_volume(rt, project_id=demo.project_id, status=volume, file_bytes=MIB)
    image_id = await _add_image(rt, demo.project_id, image)
    got = await rt.run_in_transaction(functools.partial(
        uploads_db.begin_saving, image_id=image_id, volume_id=vid, now=utcnow()
    ))
    assert got is started
    row = await image_row(rt, image_id)
    assert row is not None
    assert row.status == ("saving" if started else image)
    assert await volume_status(rt, vid) == volume


@pytest.mark.parametrize(("image", "activated"), [("saving", True), ("queued", False)])
async def test_activate_image_also_puts_the_volume_back_or_changes_nothing(
    rt: app_module.Runtime, demo, image: str, activated: bool
) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.db import uploads as uploads_db
    from cinderlite.domain.clock import utcnow

    vid = await make_volume(rt, project_id=demo.project_id, status="uploading", file_bytes=MIB)
    image_id = await _add_image(rt, demo.project_id, image)
    got = await rt.run_in_transaction(functools.partial(
        uploads_db.activate_image, image_id=image_id, volume_id=vid, job_id="no-such-job",
        now=utcnow(), disk_format="raw", container_format="bare", size=123, checksum="c" * 32,
    ))
    assert got is activated
    row = await image_row(rt, image_id)
    assert row is not None
    assert row.status == ("active" if activated else image)
    assert row.size == (123 if activated else None)
    assert await volume_status(rt, vid) == ("available" if activated else "uploading")


async def test_activate_image_refuses_formats_other_than_the_ones_written(
    rt: app_module.Runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    """Data written as raw never becomes an active vmdk (issue: a PATCH while queued)."""
    from cinderlite.db import uploads as uploads_db
    from cinderlite.domain.clock import utcnow

    vid = await make_volume(rt, project_id=demo.project_id, status="uploading", file_bytes=MIB)
    image_id = await _add_image(rt, demo.project_id, "saving", disk_format="vmdk")
    got = await rt.run_in_transaction(functools.partial(
        uploads_db.activate_image, image_id=image_id, volume_id=vid, job_id="no-such-job",
        now=utcnow(), disk_format="raw", container_format="bare", size=123, checksum="c" * 32,
    ))
    assert got is False
    row = await image_row(rt, image_id)
    assert row is not None
    assert (row.status, row.size) == ("saving", None)
    assert await volume_status(rt, vid) == "uploading"
