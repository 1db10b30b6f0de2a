"""Pure rules of the upload use case: inherited properties, space estimate, progress view."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from cinderlite.api.volume.progress import progress_view
from cinderlite.datapath.extents import estimate_image_bytes
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import StorageFull, TooLarge
from cinderlite.services import messages
from cinderlite.services.upload_worker import _detail_for
from cinderlite.services.uploads import (
    ImageCompressionNotAllowed,
    ImageConversionNotAllowed,
    VolumeDataNotIso,
    image_properties,
)

MIB = 1 << 20
CORE = (
    "checksum",
    "container_format",
    "disk_format",
    "image_name",
    "image_id",
    "min_disk",
    "min_ram",
    "name",
    "size",
)


def test_properties_drop_core_reserved_and_top_level_keys() -> None:
    meta = {
        "image_id": "x",
        "min_ram": 5,
        "os_distro": "debian",
        "hw_qemu_guest_agent": "yes",
        "img_signature_hash_method": "SHA-256",
        "os_glance_import": "x",
        "signature_verified": "True",
        "visibility": "public",
        "site_x": "1",
        "num": 3,
    }
    props = image_properties(meta, core=CORE, reserved=("site_",), top_level={"name", "visibility"})
    assert props == {"os_distro": "debian", "hw_qemu_guest_agent": "yes", "num": "3"}


def test_empty_core_list_turns_copying_off() -> None:
    assert image_properties({"os_distro": "x"}, core=(), reserved=(), top_level=set()) == {}


def test_glance_attributes_never_pass_as_custom_properties() -> None:
    # With a short core list, Cinder would hand these to Glance as the image's own
    # attributes; here they are dropped.
    meta = {"id": "x", "owner": "p", "tags": "t", "status": "active", "min_disk": "9",
            "os_hash_value": "h", "locations": "l", "hw_disk_bus": "scsi"}
    props = image_properties(meta, core=("image_id",), reserved=(), top_level=set())
    assert props == {"hw_disk_bus": "scsi"}


def _sparse(path: Path, size: int, writes: list[int]) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset in writes:
            fh.seek(offset)
            fh.write(os.urandom(MIB))
    return path


def test_estimate_raw_is_the_allocated_data(tmp_path: Path) -> None:
    p = _sparse(tmp_path / "v", 64 * MIB, [0, 10 * MIB])
    assert estimate_image_bytes(p, qemu_format="raw", compressed=False) == 2 * MIB


def test_estimate_converted_rounds_extents_to_blocks(tmp_path: Path) -> None:
    p = _sparse(tmp_path / "v", 256 * MIB, [0, 100 * MIB])
    qcow2 = estimate_image_bytes(p, qemu_format="qcow2", compressed=False)
    vhdx = estimate_image_bytes(p, qemu_format="vhdx", compressed=False)
    assert 2 * MIB < qcow2 < vhdx
    assert vhdx >= 64 * MIB  # two 32 MiB blocks
    gz = estimate_image_bytes(p, qemu_format="qcow2", compressed=True)
    assert gz > qcow2 + 2 * MIB  # converted file and its gzip copy coexist


def test_progress_view_from_the_job_row() -> None:
    job = SimpleNamespace(
        volume_id="v",
        image_id="i",
        state="running",
        bytes_done=25,
        bytes_total=100,
        started_at=utcnow() - timedelta(seconds=10),
    )
    view = progress_view(job, None)
    assert view["percent"] == 25.0
    assert view["status"] == "running"
    assert 9 <= view["elapsed_seconds"] <= 12
    assert 25 <= view["estimated_seconds_remaining"] <= 40


def test_progress_view_live_and_queued() -> None:
    job = SimpleNamespace(
        volume_id="v", image_id="i", state="queued", bytes_done=0, bytes_total=100, started_at=None
    )
    assert progress_view(job, None)["estimated_seconds_remaining"] is None
    live = progress_view(job, (100, 100, 4.0))
    assert live["percent"] == 100.0
    assert live["estimated_seconds_remaining"] == 0.0


@pytest.mark.parametrize(
    ("exc", "detail"),
    [
        (StorageFull("full"), "006"),
        (TooLarge("big"), "006"),
        (VolumeDataNotIso("v"), "900"),
        (RuntimeError("x"), "004"),
        (None, "004"),
    ],
)
def test_failure_details(exc: BaseException | None, detail: str) -> None:
    assert _detail_for(exc).id == detail


def test_cinder_texts() -> None:
    assert ImageCompressionNotAllowed().message == (
        "Image compression upload disallowed, but container_format is compressed"
    )
    assert ImageConversionNotAllowed("i", "qcow2").message == (
        "Image Conversion disallowed for image i: Image conversion is disabled. The image "
        "disk_format you have requested is 'qcow2', but your volume can only be uploaded in "
        "the format 'raw'."
    )
    assert messages.event_id("VOLUME", "003", "004") == "VOLUME_VOLUME_003_004"
    m = SimpleNamespace(action_id="003", detail_id="004")
    assert messages.user_message(m) == (  # type: ignore[arg-type]
        "copy volume to image:Failed to upload volume to image at backend."
    )
