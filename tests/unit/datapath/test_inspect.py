"""Format inspection as Glance does it, on hand-made headers (no qemu-img here)."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from cinderlite.datapath.formats import vmdk
from cinderlite.datapath.inspect import CheckedSource, StreamInspector, check_source, inspect_file
from cinderlite.domain.errors import ImageUnacceptable, UnsupportedMedia
from tests.unit.datapath.formats.reference import write_image

MiB = 1 << 20


def qcow2_header(size: int, *, version: int = 3, backing_offset: int = 0,
                 features: int = 0) -> bytes:
    head = struct.pack(">4sIQIIQ", b"QFI\xfb", version, backing_offset, 0, 16, size)
    head = head.ljust(0x48, b"\0") + struct.pack(">Q", features)
    return head.ljust(512, b"\0")


def iso_image(blocks: int = 40) -> bytes:
    data = bytearray(blocks * 2048)
    pvd = bytearray(2048)
    pvd[0] = 1
    pvd[1:6] = b"CD001"
    pvd[6] = 1
    pvd[80:88] = struct.pack("<L", blocks) + struct.pack(">L", blocks)
    pvd[128:132] = struct.pack("<H", 2048) + struct.pack(">H", 2048)
    data[32768:34816] = pvd
    return bytes(data)


def run(data: bytes, disk_format: str, container_format: str = "bare",
        chunk: int = 65536) -> int | None:
    inspector = StreamInspector(disk_format, container_format)
    for i in range(0, len(data), chunk):
        inspector.feed(data[i : i + chunk])
    return inspector.finish(len(data))


def test_qcow2_gets_virtual_size_from_header() -> None:
    assert run(qcow2_header(10 * MiB) + bytes(4096), "qcow2") == 10 * MiB


def test_raw_virtual_size_is_byte_size() -> None:
    assert run(b"hello" * 1000, "raw") == 5000


def test_raw_accepts_other_formats() -> None:
    assert run(qcow2_header(10 * MiB), "raw") == 512


def test_mismatch_is_refused_with_glance_text() -> None:
    with pytest.raises(UnsupportedMedia) as err:
        run(b"x" * 4096, "qcow2")
    assert err.value.message == "Image disk_format qcow2 does not match stream data raw"
    with pytest.raises(UnsupportedMedia) as err:
        run(qcow2_header(MiB), "vmdk")
    assert err.value.message == "Image disk_format vmdk does not match stream data qcow2"


def test_large_mismatch_is_refused_before_the_end() -> None:
    inspector = StreamInspector("qcow2", "bare")
    inspector.feed(b"\1" * (MiB // 2))
    with pytest.raises(UnsupportedMedia):
        inspector.feed(b"\1" * (MiB // 2))


@pytest.mark.parametrize(
    "header",
    [qcow2_header(MiB, backing_offset=512), qcow2_header(MiB, features=1 << 2),
     qcow2_header(MiB, version=1)],
    ids=["backing-file", "data-file", "old-version"],
)
def test_unsafe_qcow2_fails_safety_checks(header: bytes) -> None:
    with pytest.raises(UnsupportedMedia) as err:
        run(header + bytes(1024), "qcow2")
    assert err.value.message == "Image failed safety checks"


def test_iso_detected_with_virtual_size() -> None:
    assert run(iso_image(40), "iso") == 40 * 2048


def test_non_iso_data_is_refused_as_iso() -> None:
    with pytest.raises(UnsupportedMedia):
        run(bytes(40 * 2048), "iso")


def test_non_bare_containers_are_not_inspected() -> None:
    assert run(b"x" * 100, "qcow2", "ovf") is None
    assert run(b"x" * 100, "qcow2", "compressed") is None


def test_formats_without_inspector_get_no_virtual_size() -> None:
    assert run(b"x" * 100, "ami") is None


def test_inspect_file_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "disk.iso"
    path.write_bytes(iso_image(64))
    assert inspect_file(path, "iso", "bare") == 64 * 2048
    other = tmp_path / "raw.img"
    other.write_bytes(bytes(3 * MiB))
    with pytest.raises(UnsupportedMedia):
        inspect_file(other, "iso", "bare")
    assert inspect_file(other, "raw", "bare") == 3 * MiB


# --- check_source: before a volume is filled from tenant bytes -----------------------


def check(tmp_path: Path, data: bytes, disk_format: str, **kwargs: object) -> CheckedSource:
    path = tmp_path / "image"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        return check_source(fd, disk_format, image_id="img", **kwargs)  # type: ignore[arg-type]
    finally:
        os.close(fd)


def sparse_vmdk(tmp_path: Path) -> bytes:
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\x5a" * MiB)
    out = tmp_path / "disk.vmdk"
    write_image(vmdk, raw, out)
    return out.read_bytes()


def text_descriptor(create_type: str, extent: str) -> bytes:
    return (f'# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
            f'createType="{create_type}"\n{extent}\n').encode()


def test_check_source_passes_what_is_what_it_claims(tmp_path: Path) -> None:
    assert check(tmp_path, qcow2_header(10 * MiB) + bytes(4096), "qcow2") == CheckedSource(
        "qcow2", 10 * MiB
    )
    assert check(tmp_path, sparse_vmdk(tmp_path), "vmdk") == CheckedSource("vmdk", MiB)
    assert check(tmp_path, b"plain bytes" * 100, "raw") == CheckedSource("raw", None)
    assert check(tmp_path, iso_image(), "iso").format == "iso"


@pytest.mark.parametrize(
    ("make", "disk_format"),
    [
        (lambda p: b"plain bytes" * 100, "qcow2"),
        (lambda p: qcow2_header(MiB) + bytes(4096), "raw"),  # Cinder refuses raw that is qcow2
        (lambda p: qcow2_header(MiB) + bytes(4096), "iso"),
        (lambda p: qcow2_header(MiB) + bytes(4096), "ploop"),  # no inspector: nothing known
        (lambda p: qcow2_header(MiB) + bytes(4096), "vmdk"),
    ],
)
def test_check_source_refuses_data_that_is_not_what_it_claims(
    tmp_path: Path, make: Any, disk_format: str
) -> None:
    with pytest.raises(ImageUnacceptable, match=f"claimed to be '{disk_format}'"):
        check(tmp_path, make(tmp_path), disk_format)


def test_check_source_runs_the_safety_checks_whatever_the_container(tmp_path: Path) -> None:
    backed = qcow2_header(MiB, backing_offset=512) + b"/etc/passwd".ljust(4096, b"\0")
    with pytest.raises(ImageUnacceptable, match="failed safety checks"):
        check(tmp_path, backed, "qcow2")


@pytest.mark.parametrize(
    "data",
    [
        text_descriptor("monolithicFlat", 'RW 128 FLAT "/etc/passwd" 0'),
        text_descriptor("twoGbMaxExtentSparse", 'RW 128 SPARSE "/srv/other.vmdk"'),
        # Passes the inspector's own checks: a bare name, an allowed type...
        text_descriptor("monolithicSparse", 'RW 128 FLAT "other-image" 0'),
    ],
)
def test_check_source_refuses_vmdk_descriptors(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ImageUnacceptable):
        check(tmp_path, data, "vmdk")


def test_check_source_honours_vmdk_allowed_types(tmp_path: Path) -> None:
    with pytest.raises(ImageUnacceptable, match="Invalid VMDK create-type"):
        check(tmp_path, sparse_vmdk(tmp_path), "vmdk", vmdk_allowed_types=("streamOptimized",))
