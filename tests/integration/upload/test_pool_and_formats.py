"""Bounded concurrency, gzip containers, inherited image properties."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import shutil
import subprocess

import pytest

from cinderlite import app as app_module
from cinderlite.services.uploads import UploadRequest
from tests.conftest import make_settings, wait_for
from tests.integration.upload.conftest import (
    MIB,
    image_row,
    job_row,
    make_volume,
    staging_files,
    volume_bytes,
    volume_status,
)

pytestmark = pytest.mark.integration
needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path,
        database_url,
        upload_workers=3,
        allow_compression_on_image_upload=True,
        reserved_image_namespaces=("corp_",),
    )


async def _done(rt, job_id, within=120.0):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        job = await job_row(rt, job_id)
        return job if job.state in ("done", "failed", "cancelled") else None

    return await wait_for(check, within)


async def test_ten_parallel_uploads_run_at_most_pool_size_at_once(
    rt: app_module.Runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    vids = [
        await make_volume(
            rt,
            project_id=demo.project_id,
            file_bytes=64 * MIB,
            data=[(0, os.urandom(MIB)), (40 * MIB, os.urandom(MIB))],
        )
        for _ in range(10)
    ]
    started = await asyncio.gather(
        *(
            rt.services.uploads.start(
                demo.caller, v, UploadRequest(image_name=f"p{i}"), request_id=None
            )
            for i, v in enumerate(vids)
        )
    )
    peak = 0

    async def all_done():  # type: ignore[no-untyped-def]
        nonlocal peak
        peak = max(peak, rt.jobs.busy)
        jobs = [await job_row(rt, s.job_id) for s in started]
        return all(j.state == "done" for j in jobs)

    await wait_for(all_done, 180, 0.01)
    assert 1 <= peak <= 3
    for s, v in zip(started, vids, strict=True):
        image = await image_row(rt, s.image.id)
        assert image.status == "active"
        assert image.checksum == hashlib.md5(volume_bytes(rt, v)).hexdigest()
        assert await volume_status(rt, v) == "available"


async def test_compressed_raw_is_gzip_of_the_volume(rt: app_module.Runtime, demo) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt, project_id=demo.project_id, file_bytes=8 * MIB, data=[(MIB, os.urandom(MIB))]
    )
    s = await rt.services.uploads.start(demo.caller,
        vid,
        UploadRequest(image_name="gz", container_format="compressed"),
        request_id=None,
    )
    job = await _done(rt, s.job_id)
    assert job.state == "done", job.error
    image = await image_row(rt, s.image.id)
    data = rt.images.data_path(image.id).read_bytes()
    assert gzip.decompress(data) == volume_bytes(rt, vid)
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.virtual_size is None  # Glance does not inspect non-bare containers
    assert staging_files(rt) == []


@needs_qemu
async def test_compressed_qcow2_holds_the_volume(rt: app_module.Runtime, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt, project_id=demo.project_id, file_bytes=8 * MIB, data=[(MIB, os.urandom(MIB))]
    )
    s = await rt.services.uploads.start(demo.caller,
        vid,
        UploadRequest(image_name="gzq", disk_format="qcow2", container_format="compressed"),
        request_id=None,
    )
    job = await _done(rt, s.job_id)
    assert job.state == "done", job.error
    out = tmp_path / "img.qcow2"
    out.write_bytes(gzip.decompress(rt.images.data_path(s.image.id).read_bytes()))
    await asyncio.to_thread(
        subprocess.run,
        ["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(rt.volumes.path(vid)), str(out)],
        check=True,
        capture_output=True,
    )
    assert staging_files(rt) == []


async def test_image_inherits_filtered_volume_image_properties(
    rt: app_module.Runtime, demo
) -> None:  # type: ignore[no-untyped-def]
    meta = {
        "image_id": "abc",
        "checksum": "x",
        "min_disk": 3,
        "os_distro": "debian",
        "hw_disk_bus": "scsi",
        "img_signature": "sig",
        "os_glance_foo": "1",
        "signature_verified": "True",
        "corp_secret": "s",
        "disk_format": "qcow2",
    }
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, image_meta=meta)
    s = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="props"), request_id=None
    )
    image = await image_row(rt, s.image.id)
    assert image.properties == {"os_distro": "debian", "hw_disk_bus": "scsi"}
    assert image.min_disk == 0
    await _done(rt, s.job_id)
