"""Uploads to qcow2/vmdk/vdi written by cinderlite itself, and the qemu-img path beside them."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from cinderlite import app as app_module
from cinderlite.config import Settings
from cinderlite.datapath import convert, qemu
from cinderlite.services.uploads import UploadRequest
from tests.conftest import make_settings, wait_for
from tests.integration.upload.conftest import (
    MIB,
    image_row,
    job_row,
    make_volume,
    staging_files,
    volume_status,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed"),
]


@pytest.fixture(params=[True, False], ids=["native", "qemu-img"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path, database_url, native_conversion=request.param,
        image_compress_on_upload=False, allow_compression_on_image_upload=True,
    )


@pytest.fixture
def only_the_chosen_writer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make the writer that the settings did not choose fail if it is used at all."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the other conversion path ran")

    if settings.native_conversion:
        monkeypatch.setattr(qemu, "run_convert", refuse)
    else:
        monkeypatch.setattr(convert, "convert_native", refuse)


async def _upload_and_wait(rt: app_module.Runtime, demo, vid: str, **kw):  # type: ignore[no-untyped-def]
    req = UploadRequest(image_name="img", **kw)
    started = await rt.services.uploads.start(demo.caller, vid, req, request_id="req-test")

    async def done():  # type: ignore[no-untyped-def]
        job = await job_row(rt, started.job_id)
        return job if job.state in ("done", "failed", "cancelled") else None

    job = await wait_for(done, 60.0)
    assert job.state == "done", job.error
    return await image_row(rt, started.image.id)


def _compare(volume: Path, image: Path, fmt: str) -> None:
    subprocess.run(
        ["qemu-img", "compare", "-f", "raw", "-F", fmt, str(volume), str(image)],
        check=True, capture_output=True,
    )
    check = subprocess.run(
        ["qemu-img", "check", "-f", fmt, str(image)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.usefixtures("only_the_chosen_writer")
@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "vdi"])
async def test_upload_holds_the_volume_and_its_hashes(
    rt: app_module.Runtime, demo, random_mib, disk_format: str
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt, project_id=demo.project_id, file_bytes=40 * MIB,
        # Data, written zeros (left out of the image), data across 8 MiB chunks.
        data=[(0, random_mib(1)), (3 * MIB, bytes(MIB)), (9 * MIB, random_mib(17)),
              (40 * MIB - 5, b"tail!")],
    )
    image = await _upload_and_wait(rt, demo, vid, disk_format=disk_format)
    stored = rt.images.data_path(image.id)
    data = await asyncio.to_thread(stored.read_bytes)
    assert image.status == "active"
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert image.virtual_size == 40 * MIB
    assert len(data) < 20 * MIB  # zeros and holes were not stored
    await asyncio.to_thread(_compare, rt.volumes.path(vid), stored, disk_format)
    assert staging_files(rt) == []
    assert await volume_status(rt, vid) == "available"


@pytest.mark.usefixtures("only_the_chosen_writer")
async def test_compressed_container_holds_the_converted_image(
    rt: app_module.Runtime, demo, random_mib, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=8 * MIB,
                            data=[(MIB, random_mib(1))])
    image = await _upload_and_wait(
        rt, demo, vid, disk_format="vmdk", container_format="compressed"
    )
    packed = rt.images.data_path(image.id).read_bytes()
    assert image.checksum == hashlib.md5(packed).hexdigest()
    out = tmp_path / "unpacked.vmdk"
    out.write_bytes(gzip.decompress(packed))
    await asyncio.to_thread(_compare, rt.volumes.path(vid), out, "vmdk")
    assert staging_files(rt) == []


async def test_layouts_too_big_to_hold_fall_back_to_qemu_img(
    rt: app_module.Runtime, demo, random_mib, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(convert, "MAX_HEAD_BYTES", 4096)
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=8 * MIB,
                            data=[(MIB, random_mib(1))])
    image = await _upload_and_wait(rt, demo, vid, disk_format="qcow2")
    stored = rt.images.data_path(image.id)
    assert image.checksum == hashlib.md5(stored.read_bytes()).hexdigest()
    await asyncio.to_thread(_compare, rt.volumes.path(vid), stored, "qcow2")


@pytest.mark.usefixtures("only_the_chosen_writer")
async def test_parallel_uploads_each_hold_their_own_volume(
    rt: app_module.Runtime, demo, random_mib
) -> None:  # type: ignore[no-untyped-def]
    # Two workers (make_settings) convert at once: each copy has its own chunk
    # buffers and hash threads; a mix-up would show in the hashes or the content.
    vids = [
        await make_volume(rt, project_id=demo.project_id, file_bytes=24 * MIB,
                          data=[(k * MIB, random_mib(9)), (20 * MIB, random_mib(1))])
        for k in range(3)
    ]
    started = [
        await rt.services.uploads.start(
            demo.caller, vid, UploadRequest(image_name=f"p{i}", disk_format=fmt),
            request_id="req-test",
        )
        for i, (vid, fmt) in enumerate(zip(vids, ["qcow2", "vmdk", "vdi"], strict=True))
    ]

    async def all_done():  # type: ignore[no-untyped-def]
        jobs = [await job_row(rt, s.job_id) for s in started]
        return jobs if all(j.state in ("done", "failed") for j in jobs) else None

    jobs = await wait_for(all_done, 120.0)
    assert [j.state for j in jobs] == ["done"] * 3, [j.error for j in jobs]
    for vid, s, fmt in zip(vids, started, ["qcow2", "vmdk", "vdi"], strict=True):
        image = await image_row(rt, s.image.id)
        stored = rt.images.data_path(image.id)
        data = await asyncio.to_thread(stored.read_bytes)
        assert image.checksum == hashlib.md5(data).hexdigest()
        assert image.os_hash_value == hashlib.sha512(data).hexdigest()
        await asyncio.to_thread(_compare, rt.volumes.path(vid), stored, fmt)


async def test_progress_counts_volume_bytes_on_both_paths(
    rt: app_module.Runtime, demo, random_mib
) -> None:  # type: ignore[no-untyped-def]
    # A real 1 GiB volume (row and file agree), sparse: 2 MiB of data.
    vid = await make_volume(rt, project_id=demo.project_id, size_gib=1,
                            data=[(MIB, random_mib(2))])
    req = UploadRequest(image_name="img", disk_format="vdi")
    started = await rt.services.uploads.start(demo.caller, vid, req, request_id="req-test")

    async def done():  # type: ignore[no-untyped-def]
        job = await job_row(rt, started.job_id)
        return job if job.state in ("done", "failed") else None

    job = await wait_for(done, 60.0)
    assert job.state == "done", job.error
    # The image is smaller than the volume; progress is in volume bytes all the same.
    assert job.bytes_total == job.bytes_done == 1024 * MIB
