"""Uploads and volumes-from-images onto a really full file system (loop-mounted ext4).

The upload action checks the free space before its 202; here the space goes
between the 202 and the worker (another file fills the disk), which is the
case a check can never rule out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cinderlite import app as app_module
from cinderlite.services.uploads import UploadRequest
from tests.conftest import make_settings
from tests.integration.conftest import free_bytes
from tests.integration.upload.conftest import MIB, image_row, make_volume, volume_bytes
from tests.integration.upload.test_failures import _assert_rolled_back, _ended
from tests.integration.volume.test_image_safety import put_image, volume_from
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration
needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")

V33 = {"OpenStack-API-Version": "volume 3.3"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, small_filesystem):  # type: ignore[no-untyped-def]
    small_filesystem(tmp_path / "data" / "images", 64)
    small_filesystem(tmp_path / "data" / "volumes", 64)
    return make_settings(tmp_path, database_url, image_compress_on_upload=False)


def fill_up(where: Path, leave: int) -> Path:
    """A file that leaves only `leave` bytes free under `where`."""
    ballast = where / "ballast"
    with ballast.open("wb") as fh:
        left = free_bytes(where) - leave
        while left > 0:
            n = min(left, 4 * MIB)
            fh.write(os.urandom(n))
            left -= n
        fh.flush()
        os.fsync(fh.fileno())
    return ballast


@pytest.mark.parametrize(
    "disk_format",
    ["raw", "vdi", pytest.param("vhd", marks=needs_qemu)],
    ids=["raw-copy", "native-writer", "qemu-img"],
)
async def test_upload_onto_a_full_store_rolls_back(
    rt: app_module.Runtime, demo, disk_format: str,
) -> None:  # type: ignore[no-untyped-def]
    data = [(i * 2 * MIB, os.urandom(MIB)) for i in range(12)]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=24 * MIB, data=data)
    before = volume_bytes(rt, vid)
    await rt.jobs.stop()
    started = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="img", disk_format=disk_format),
        request_id="req-fail",
    )
    ballast = fill_up(Path(rt.settings.images_dir), leave=3 * MIB)
    await rt.jobs.start()
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    assert job.error.startswith("StorageFull"), job.error
    await _assert_rolled_back(rt, started, vid, detail="006")
    assert volume_bytes(rt, vid) == before
    # With room again, the same volume uploads whole.
    ballast.unlink()
    again = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="img2", disk_format=disk_format),
        request_id="req-ok",
    )
    job = await _ended(rt, again.job_id)
    assert job.state == "done", job.error
    image = await image_row(rt, again.image.id)
    assert image is not None
    assert image.status == "active"


async def test_volume_from_image_onto_a_full_disk_is_error_with_a_message(
    rt: app_module.Runtime, demo, volume_client, image_client,
) -> None:  # type: ignore[no-untyped-def]
    image_client.headers["Accept"] = "application/json"
    data = os.urandom(24 * MIB)
    image_id = await put_image(image_client, demo, data, disk_format="raw",
                               container_format="bare")
    # The capacity check before the 202 passes; the space goes before the copy.
    await rt.jobs.stop()
    volume_id = await volume_from(volume_client, demo, image_id)
    fill_up(Path(rt.settings.volumes_dir), leave=4 * MIB)
    await rt.jobs.start()
    await wait_status(volume_client, demo, volume_id, "error")
    resp = await volume_client.get(f"/v3/{demo.project_id}/messages",
                                   headers={**demo.headers, **V33})
    [message] = [m for m in resp.json()["messages"] if m["resource_uuid"] == volume_id]
    assert message["event_id"] == "VOLUME_VOLUME_005_007"
    assert message["user_message"] == (
        "copy image to volume:Image used for creating volume exceeds available space."
    )
