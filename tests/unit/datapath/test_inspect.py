"""Format inspection as Glance does it, on hand-made headers (no qemu-img here)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cinderlite.datapath.inspect import StreamInspector, inspect_file
from cinderlite.domain.errors import UnsupportedMedia

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
