"""The vmdk layout: structure checks, and real images checked by the real qemu-img.

Images are written by the reference writer from sparse raw files; qemu-img
must find them clean (`check`), equal to the raw file (`compare`, `convert -O
raw`), and, given the same CID and extent name, byte-identical to what
`qemu-img convert -O vmdk` writes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
from array import array
from pathlib import Path

import pytest

from cinderlite.datapath.formats import vmdk
from tests.unit.datapath.files import sparse_file, write_sparse
from tests.unit.datapath.formats.reference import write_image

UNIT = vmdk.UNIT
MIB = 1 << 20
GIB = 1 << 30
CID = 0x1234ABCD

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
pytestmark = pytest.mark.integration


def _qemu_img(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["qemu-img", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LC_ALL": "C"},
        check=False,
    )


def _assert_qemu_accepts(raw: Path, image: Path, virtual_size: int) -> None:
    check = _qemu_img("check", "-f", "vmdk", image)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No errors were found on the image." in check.stdout
    compare = _qemu_img("compare", "-f", "raw", "-F", "vmdk", raw, image)
    assert compare.returncode == 0, compare.stdout + compare.stderr
    info = _qemu_img("info", "-f", "vmdk", "--output=json", image)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["format"] == "vmdk"
    assert data["virtual-size"] == -(-virtual_size // 512) * 512
    assert data["format-specific"]["data"]["create-type"] == "monolithicSparse"


def _grain_tables(head: bytes, directory_sector: int, gt_count: int) -> array[int]:
    at = directory_sector * 512
    gd = array("I", head[at : at + gt_count * 4])
    tables = array("I")
    for sector in gd:
        tables.frombytes(head[sector * 512 : sector * 512 + 2048])
    return tables


def _assert_layout(head: bytes, file_size: int, virtual_size: int, units: list[int]) -> None:
    """What qemu-img does not check: both table copies, dense grains, file size."""
    (magic, version, flags, capacity, grain, desc_at, desc_len, per_gt, rgd, gd, overhead) = (
        struct.unpack_from("<4sIIQQQQIQQQ", head)
    )
    assert (magic, version, flags, grain, per_gt) == (b"KDMV", 1, 3, 128, 512)
    assert (desc_at, desc_len, rgd) == (1, 20, 21)
    assert head[73:77] == b"\n \r\n"  # the newline-test bytes
    assert capacity == -(-virtual_size // 512)
    assert overhead % 128 == 0
    assert len(head) >= overhead * 512
    assert file_size == overhead * 512 + len(units) * UNIT
    gt_count = -(-capacity // (128 * 512))
    primary = _grain_tables(head, gd, gt_count)
    assert _grain_tables(head, rgd, gt_count) == primary
    expected = array("I", bytes(4 * gt_count * 512))
    for k, unit in enumerate(units):
        expected[unit] = overhead + k * 128
    assert primary == expected


def _write(tmp_path: Path, size: int, pieces: list[tuple[int, bytes]]) -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    sparse_file(raw, size, pieces)
    image = tmp_path / "out.vmdk"
    assert write_image(vmdk, raw, image, cid=CID) == _units(pieces)
    return raw, image


def _units(pieces: list[tuple[int, bytes]]) -> list[int]:
    """The units the pieces touch (none of the test pieces has a zero unit)."""
    touched = (range(o // UNIT, (o + len(d) - 1) // UNIT + 1) for o, d in pieces)
    return sorted({unit for units in touched for unit in units})


CASES = {
    "empty": (256 * MIB, []),
    "one unit at start": (256 * MIB, [(0, b"\x01" * 512)]),
    "one unit at end": (256 * MIB, [(256 * MIB - 7, b"end")]),
    "last unit partial": (40 * UNIT + 3 * 512, [(40 * UNIT + 1000, b"tail" * 100)]),
    "size not a multiple of 512": (3 * UNIT + 100, [(3 * UNIT + 50, b"odd")]),
    "scattered": (
        256 * MIB,
        [
            (o, random.Random(o).randbytes(300))
            for o in random.Random(7).sample(range(256 * MIB - 300), 150)
        ],
    ),
    "fully allocated": (4 * MIB + 512, [(0, random.Random(3).randbytes(4 * MIB + 512))]),
}


@needs_qemu
@pytest.mark.parametrize("case", CASES)
def test_qemu_img_finds_image_clean_and_equal(tmp_path: Path, case: str) -> None:
    size, pieces = CASES[case]
    raw, image = _write(tmp_path, size, pieces)
    _assert_qemu_accepts(raw, image, size)
    data = image.read_bytes()
    _assert_layout(data, len(data), size, _units(pieces))


@needs_qemu
def test_large_volume_with_several_directory_sectors(tmp_path: Path) -> None:
    # 9 GiB: 288 grain tables, so each grain directory spans 3 sectors.
    size = 9 * GIB
    pieces = [
        (0, b"first"),
        (32 * MIB - 2, b"across a grain table boundary"),
        (4 * GIB + 12345, b"in the second directory sector"),
        (8 * GIB + 64, b"in the third"),
        (size - 1, b"!"),
    ]
    raw = tmp_path / "raw"
    write_sparse(raw, size, pieces)  # not sparse_file: it would read 9 GiB back
    image = tmp_path / "out.vmdk"
    assert write_image(vmdk, raw, image, cid=CID) == _units(pieces)
    _assert_qemu_accepts(raw, image, size)
    data = image.read_bytes()
    rgd = struct.unpack_from("<Q", data, 0x30)[0]
    assert struct.unpack_from("<I", data, rgd * 512)[0] == rgd + 3  # first GT after 3 sectors
    assert len(data) == vmdk.metadata_bytes(size, 0) + 6 * UNIT
    _assert_layout(data, len(data), size, _units(pieces))
    _assert_same_as_qemu_img(tmp_path, raw)


@needs_qemu
def test_image_converts_back_to_the_same_bytes(tmp_path: Path) -> None:
    size, pieces = CASES["scattered"]
    raw, image = _write(tmp_path, size, pieces)
    back = tmp_path / "back.raw"
    result = _qemu_img("convert", "-f", "vmdk", "-O", "raw", image, back)
    assert result.returncode == 0, result.stderr
    assert back.read_bytes() == raw.read_bytes()


@needs_qemu
def test_renamed_file_still_opens(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    sparse_file(raw, 64 * MIB, [(5 * MIB, b"data")])
    written = tmp_path / "a.vmdk"
    write_image(vmdk, raw, written, name="image.vmdk")
    renamed = tmp_path / "b.vmdk"
    written.rename(renamed)
    _assert_qemu_accepts(raw, renamed, 64 * MIB)


def _assert_same_as_qemu_img(tmp_path: Path, raw: Path) -> None:
    """Same bytes as `qemu-img convert -O vmdk` (in-order writes), given its CID and name."""
    theirs = tmp_path / "image.vmdk"
    result = _qemu_img("convert", "-f", "raw", "-O", "vmdk", raw, theirs)
    assert result.returncode == 0, result.stderr
    their_bytes = theirs.read_bytes()
    cid = int(their_bytes[512:1024].split(b"CID=")[1].split(b"\n")[0], 16)
    ours = tmp_path / "ours.vmdk"
    write_image(vmdk, raw, ours, cid=cid)
    our_bytes = ours.read_bytes()
    # The descriptor sectors hold the same text, but qemu-img rewrites its
    # descriptor in place when it sets the CID on the first write, and when
    # the new CID has fewer hex digits the old text's last newline stays
    # behind the new one (about 1 run in 60 ends "\n\n"). Everything else is
    # compared byte for byte.
    desc = slice(vmdk.DESC_OFFSET * 512, (vmdk.DESC_OFFSET + vmdk.DESC_SECTORS) * 512)

    def text(data: bytes) -> bytes:
        return data[desc].rstrip(b"\0").rstrip(b"\n")

    assert text(our_bytes) == text(their_bytes)
    assert our_bytes[: desc.start] == their_bytes[: desc.start]
    assert our_bytes[desc.stop :] == their_bytes[desc.stop :]


@needs_qemu
@pytest.mark.parametrize(
    "case", ["empty", "one unit at end", "last unit partial", "scattered", "fully allocated"]
)
def test_matches_qemu_img_convert_byte_for_byte(tmp_path: Path, case: str) -> None:
    size, pieces = CASES[case]
    raw = tmp_path / "raw"
    sparse_file(raw, size, pieces)
    _assert_same_as_qemu_img(tmp_path, raw)


@pytest.mark.parametrize(
    "size",
    [
        512,
        UNIT - 512,
        UNIT,
        UNIT + 512,
        32 * MIB,
        32 * MIB + UNIT,
        4 * GIB,
        4 * GIB + 32 * MIB,
        9 * GIB + 512,
        100 * GIB,
    ],
)
def test_metadata_bytes_is_the_head_length(size: int) -> None:
    grains = -(-size // UNIT)
    for allocated in ([], [0], [grains - 1], list(range(0, grains, max(1, grains // 50)))):
        head = vmdk.head(size, allocated)
        assert len(head) == vmdk.metadata_bytes(size, len(allocated))
        assert len(head) % 4096 == 0
        assert len(head) % UNIT == 0


def test_grain_tables_match_a_plain_loop_for_mixed_runs() -> None:
    rnd = random.Random(11)
    allocated = sorted(
        {
            *range(1000, 1700),
            *rnd.sample(range(2000, 60000), 3000),
            *range(60000, 70000, 2),
            *range(70001, 80000),
        }
    )
    size = 100_000 * UNIT
    head = vmdk.head(size, allocated)
    _assert_layout(head, len(head) + len(allocated) * UNIT, size, allocated)


def test_descriptor_names_the_extent_and_cid() -> None:
    head = vmdk.head(10 * GIB, [], name="disk-1.vmdk", cid=0xBEEF)
    text = head[512 : 21 * 512].rstrip(b"\0").decode()
    assert "CID=beef\nparentCID=ffffffff\n" in text
    assert 'createType="monolithicSparse"' in text
    assert 'RW 20971520 SPARSE "disk-1.vmdk"\n' in text
    assert 'ddb.geometry.cylinders = "20805"' in text
    assert 'ddb.adapterType = "ide"' in text


def test_random_cid_is_valid() -> None:
    text = vmdk.head(MIB, [])[512:1024].decode("ascii", "replace")
    cid = int(text.split("CID=")[1].split("\n")[0], 16)
    assert 0 < cid < 0xFFFFFFFF


@pytest.mark.parametrize("name", ["", 'a"b.vmdk', "dir/a.vmdk", "a\nb", "é.vmdk", "x" * 256])
def test_rejects_unusable_extent_names(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        vmdk.head(MIB, [], name=name)


def test_rejects_an_empty_disk() -> None:
    with pytest.raises(ValueError, match="above zero"):
        vmdk.metadata_bytes(0, 0)


def test_rejects_files_past_two_tib() -> None:
    size = 2 << 40
    grains = size // UNIT
    assert vmdk.metadata_bytes(size, 1000) > 0
    with pytest.raises(ValueError, match="2 TiB"):
        vmdk.metadata_bytes(size, grains)
    with pytest.raises(ValueError, match="2 TiB"):
        vmdk.head(size, range(grains))


def test_rejects_grains_outside_the_disk() -> None:
    with pytest.raises(ValueError, match="out of range"):
        vmdk.head(UNIT + 512, [2])
