"""vdi layout: images written from it are clean and equal to their volume, per real qemu-img."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from cinderlite.datapath.formats import vdi
from tests.unit.datapath.files import sparse_file, write_sparse
from tests.unit.datapath.formats.reference import write_image

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img")
pytestmark = pytest.mark.integration

B = vdi.UNIT
MIB = 1 << 20
GIB = 1 << 30


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True)


def _check(raw: Path, out: Path, size: int) -> None:
    check = _run("qemu-img", "check", "-f", "vdi", "--output=json", str(out))
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report.get("corruptions", 0) == 0, report
    assert report.get("leaks", 0) == 0, report
    assert report.get("check-errors", 0) == 0, report
    assert "ERROR" not in check.stderr
    cmp = _run("qemu-img", "compare", "-f", "raw", "-F", "vdi", str(raw), str(out))
    assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    info = json.loads(_run("qemu-img", "info", "--output=json", str(out)).stdout)
    assert info["format"] == "vdi"
    assert info["virtual-size"] == size


# The header as QEMU's `VdiHeader` declares it, written out here independently
# of the module so a wrong field order there shows up.
_FIELDS = [
    ("text", "64s"),
    ("signature", "I"),
    ("version", "I"),
    ("header_size", "I"),
    ("image_type", "I"),
    ("image_flags", "I"),
    ("description", "256s"),
    ("offset_bmap", "I"),
    ("offset_data", "I"),
    ("cylinders", "I"),
    ("heads", "I"),
    ("sectors", "I"),
    ("sector_size", "I"),
    ("unused1", "I"),
    ("disk_size", "Q"),
    ("block_size", "I"),
    ("block_extra", "I"),
    ("blocks_in_image", "I"),
    ("blocks_allocated", "I"),
    ("uuid_image", "16s"),
    ("uuid_last_snap", "16s"),
    ("uuid_link", "16s"),
    ("uuid_parent", "16s"),
]
_LAYOUT = struct.Struct("<" + "".join(code for _, code in _FIELDS))


def _fields(h: bytes) -> dict[str, int | bytes]:
    return dict(zip((name for name, _ in _FIELDS), _LAYOUT.unpack_from(h), strict=True))


def _bmap(h: bytes) -> list[int]:
    n = int(_fields(h)["blocks_in_image"])
    return list(struct.unpack_from(f"<{n}I", h, vdi.BMAP_OFFSET))


@needs_qemu
@pytest.mark.parametrize(
    ("size", "pieces"),
    [
        (0, []),
        (MIB, []),
        (5 * MIB, []),
        (MIB, [(0, b"start")]),
        (3 * MIB, [(3 * MIB - 3, b"end")]),
        (2 * MIB + 512, [(2 * MIB, b"x" * 512)]),  # last block partial
        (2 * MIB + 7 * 512, [(0, b"a"), (2 * MIB + 5 * 512, b"tail")]),
        (6 * MIB, [(B + 7, b"across" * 400_000)]),  # several blocks from one write
        (4 * MIB, [(0, random.Random(1).randbytes(4 * MIB))]),  # fully allocated
    ],
    ids=[
        "zero-size",
        "empty",
        "empty-5m",
        "start",
        "end",
        "partial-last",
        "partial-last-odd",
        "run",
        "full",
    ],
)
def test_small_images(tmp_path: Path, size: int, pieces: list[tuple[int, bytes]]) -> None:
    raw, out = tmp_path / "v.raw", tmp_path / "v.vdi"
    sparse_file(raw, size, pieces)
    units = write_image(vdi, raw, out)
    assert out.stat().st_size == vdi.metadata_bytes(size, len(units)) + len(units) * B
    _check(raw, out, size)


@needs_qemu
def test_scattered_blocks_convert_back_to_the_same_bytes(tmp_path: Path) -> None:
    rng = random.Random(7)
    size = 96 * MIB + 3 * 512
    pieces = [(rng.randrange(size - 100), rng.randbytes(rng.randrange(1, 100))) for _ in range(60)]
    raw, out = tmp_path / "v.raw", tmp_path / "v.vdi"
    sparse_file(raw, size, pieces)
    units = write_image(vdi, raw, out)
    assert 30 < len(units) < 96
    _check(raw, out, size)
    back = tmp_path / "back.raw"
    subprocess.run(
        ["qemu-img", "convert", "-f", "vdi", "-O", "raw", str(out), str(back)], check=True
    )
    assert back.read_bytes() == raw.read_bytes()


@needs_qemu
def test_block_map_filling_its_first_page_exactly(tmp_path: Path) -> None:
    # 896 blocks: 0x200 + 896 * 4 == 4096, so the data starts right after the map.
    size = 896 * B
    raw, out = tmp_path / "v.raw", tmp_path / "v.vdi"
    write_sparse(raw, size, [(7, b"first"), (size - 1, b"z")])
    write_image(vdi, raw, out)
    assert _fields(out.read_bytes()[:4096])["offset_data"] == 4096
    _check(raw, out, size)


@needs_qemu
def test_block_map_over_several_pages(tmp_path: Path) -> None:
    # 5 GiB: 5120 blocks, a 20 KiB block map over six 4 KiB pages; data at both
    # ends and in the middle of it.
    size = 5 * GIB
    pieces = [(5, b"a"), (2 * GIB + 17 * B, b"b" * 3), (3 * GIB - 1, b"cd"), (size - 1, b"z")]
    raw, out = tmp_path / "v.raw", tmp_path / "v.vdi"
    write_sparse(raw, size, pieces)
    units = write_image(vdi, raw, out)
    assert units == [0, 2048 + 17, 3071, 3072, 5119]
    assert vdi.metadata_bytes(size, 5) == 24 * 1024
    _check(raw, out, size)


@pytest.mark.skipif(shutil.which("qemu-io") is None, reason="needs qemu-io")
@needs_qemu
def test_qemu_appends_new_blocks_after_ours(tmp_path: Path) -> None:
    # A later writer (a VM, qemu-io) allocates block number blocks_allocated at
    # offset_data + n * 1 MiB: the end of the file we wrote.
    size = 8 * MIB
    raw, out = tmp_path / "v.raw", tmp_path / "v.vdi"
    sparse_file(raw, size, [(B, b"one"), (5 * B, b"five")])
    write_image(vdi, raw, out)
    for path, fmt in ((out, "vdi"), (raw, "raw")):
        done = _run("qemu-io", "-f", fmt, "-c", f"write -P 0xab {3 * B + 512} 4096", str(path))
        assert done.returncode == 0, done.stderr
    assert out.stat().st_size == vdi.metadata_bytes(size, 3) + 3 * B
    _check(raw, out, size)


@pytest.mark.parametrize(
    "size",
    [0, 512, B - 512, B, B + 512, 895 * B, 896 * B, 896 * B + 512, 897 * B, 5 * GIB + 512, 1 << 40],
)
def test_metadata_bytes_is_the_head_length_and_page_aligned(size: int) -> None:
    blocks = -(-size // B)
    for allocated in (range(0), range(min(blocks, 3)), range(max(blocks - 1, 0), blocks)):
        h = vdi.head(size, allocated)
        assert len(h) == vdi.metadata_bytes(size, len(allocated))
        assert len(h) % 4096 == 0
        assert len(h) >= vdi.BMAP_OFFSET + 4 * blocks


def test_head_length_steps_one_page_per_1024_blocks() -> None:
    assert vdi.metadata_bytes(0, 0) == 4096
    assert vdi.metadata_bytes(896 * B, 0) == 4096
    assert vdi.metadata_bytes(896 * B + 512, 0) == 8192
    assert vdi.metadata_bytes(1920 * B, 0) == 8192
    assert vdi.metadata_bytes(1921 * B, 0) == 12288


def test_header_fields_match_what_qemu_img_writes() -> None:
    image_id, modify_id = uuid.uuid4(), uuid.uuid4()
    h = vdi.head(5 * MIB + 1000, [1, 4, 5], image_uuid=image_id, modify_uuid=modify_id)
    f = _fields(h)
    assert f["text"] == b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(64, b"\0")
    assert (f["signature"], f["version"], f["header_size"]) == (0xBEDA107F, 0x00010001, 0x180)
    assert (f["image_type"], f["image_flags"], f["description"]) == (1, 0, bytes(256))
    assert (f["offset_bmap"], f["offset_data"]) == (0x200, 4096)
    assert (f["cylinders"], f["heads"], f["sectors"], f["sector_size"]) == (0, 0, 0, 512)
    assert f["disk_size"] == 5 * MIB + 1024  # rounded up to a sector, as qemu-img does
    assert (f["block_size"], f["block_extra"]) == (MIB, 0)
    assert (f["blocks_in_image"], f["blocks_allocated"]) == (6, 3)
    assert f["uuid_image"] == image_id.bytes_le
    assert f["uuid_last_snap"] == modify_id.bytes_le
    assert f["uuid_link"] == f["uuid_parent"] == bytes(16)
    assert h[0x1C8:0x200] == bytes(56)
    assert _bmap(h) == [0xFFFFFFFF, 0, 0xFFFFFFFF, 0xFFFFFFFF, 1, 2]
    assert h[0x200 + 6 * 4 :] == bytes(4096 - 0x200 - 6 * 4)


def test_fresh_random_uuids_for_each_head() -> None:
    one, two = _fields(vdi.head(MIB, [])), _fields(vdi.head(MIB, []))
    ids = {one["uuid_image"], one["uuid_last_snap"], two["uuid_image"], two["uuid_last_snap"]}
    assert len(ids) == 4
    for raw_id in ids:
        assert isinstance(raw_id, bytes)
        assert uuid.UUID(bytes_le=raw_id).version == 4


def test_fully_allocated_maps_each_block_to_itself() -> None:
    h = vdi.head(10 * MIB, range(10))
    assert _bmap(h) == list(range(10))
    assert _fields(h)["blocks_allocated"] == 10


@pytest.mark.parametrize(
    "allocated",
    [[2, 1], [1, 1], [-1], [4], [0, 1, 2, 3, 4]],
    ids=["descending", "duplicate", "negative", "past-end", "too-many"],
)
def test_head_rejects_bad_unit_lists(allocated: list[int]) -> None:
    with pytest.raises(ValueError, match="allocated units"):
        vdi.head(4 * MIB, allocated)


def test_head_rejects_sizes_past_the_block_limit() -> None:
    assert vdi.MAX_BLOCKS <= 0x3FFFFFFF
    assert vdi.metadata_bytes(vdi.MAX_BLOCKS * B, 0) <= 0xFFFFFFFF
    with pytest.raises(ValueError, match="too large"):
        vdi.head(vdi.MAX_BLOCKS * B + 512, [])
    with pytest.raises(ValueError, match="negative"):
        vdi.metadata_bytes(-512, 0)


def test_head_for_a_tebibyte_has_the_size_of_its_block_map() -> None:
    # No timing bound here (no timing thresholds in the suite): the build time
    # for big volumes is in the notes of the commit that added this module.
    full = vdi.head(1 << 40, range(1 << 20))
    sparse = vdi.head(1 << 40, range(0, 1 << 20, 1 << 10))
    assert len(full) == len(sparse) == vdi.metadata_bytes(1 << 40, 0)
