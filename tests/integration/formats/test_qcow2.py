"""qcow2 layout: images written from it are clean and equal to their volume, per real qemu-img."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from cinderlite.datapath.formats import qcow2
from tests.unit.datapath.files import sparse_file
from tests.unit.datapath.formats.reference import write_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img"),
]

C = qcow2.UNIT
MIB = 1 << 20
GIB = 1 << 30


def _check(raw: Path, out: Path, size: int, *, compare: bool = True) -> None:
    check = subprocess.run(
        ["qemu-img", "check", "-f", "qcow2", "--output=json", str(out)],
        capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report.get("corruptions", 0) == 0, report
    assert report.get("leaks", 0) == 0, report
    assert report.get("check-errors", 0) == 0, report
    if compare:  # reads the whole volume: small ones only
        cmp = subprocess.run(
            ["qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(raw), str(out)],
            capture_output=True, text=True,
        )
        assert cmp.returncode == 0, cmp.stdout + cmp.stderr
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "--output=json", str(out)], capture_output=True, text=True,
        check=True,
    ).stdout)
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == size
    assert info["format-specific"]["data"]["compat"] == "1.1"


@pytest.mark.parametrize(
    ("size", "pieces"),
    [
        (MIB, []),
        (MIB, [(0, b"start")]),
        (MIB, [(MIB - 3, b"end")]),
        (MIB + 512, [(MIB, b"x" * 512)]),  # last cluster partial
        (4 * MIB, [(3 * C + 7, b"across" * 20000)]),  # several clusters from one write
        (2 * MIB, [(0, random.Random(1).randbytes(2 * MIB))]),  # fully allocated
    ],
    ids=["empty", "start", "end", "partial-last", "run", "full"],
)
def test_small_images(tmp_path: Path, size: int, pieces: list[tuple[int, bytes]]) -> None:
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, size, pieces)
    write_image(qcow2, raw, out)
    _check(raw, out, size)


@pytest.mark.parametrize("size", [1, 4095, 65537, 1000001])
def test_sizes_off_the_sector_grid_are_rounded_up_like_qemu_img(tmp_path: Path, size: int) -> None:
    # QEMU reads the header's size in whole sectors: an exact 1000001 would
    # drop the volume's last 65 bytes. qemu-img convert rounds up, so do we.
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, size, [(size - 1, b"z")])
    write_image(qcow2, raw, out)
    _check(raw, out, -(-size // 512) * 512)


def test_an_empty_disk_leaks_no_cluster(tmp_path: Path) -> None:
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, 0, [])
    write_image(qcow2, raw, out)
    _check(raw, out, 0)


def test_scattered_clusters(tmp_path: Path) -> None:
    rng = random.Random(7)
    size = 64 * MIB
    pieces = [(rng.randrange(size - 100), rng.randbytes(rng.randrange(1, 100))) for _ in range(300)]
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, size, pieces)
    write_image(qcow2, raw, out)
    _check(raw, out, size)
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(out), str(back)],
                   check=True)
    assert back.read_bytes() == raw.read_bytes()


def test_several_l2_tables_and_regions_with_gaps(tmp_path: Path) -> None:
    # 3 GiB: six 512 MiB regions; data in the 1st, 3rd and last only.
    size = 3 * GIB
    pieces = [(5, b"a"), (GIB + 17 * C, b"b" * 3), (size - 1, b"z")]
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, size, pieces)
    units = write_image(qcow2, raw, out)
    assert units == [0, GIB // C + 17, size // C - 1]
    _check(raw, out, size, compare=False)
    h = out.stat().st_size - 3 * C
    assert _mapped(out) == [(i * C, C, h + k * C) for k, i in enumerate(units)]


def test_refcount_blocks_counting_themselves() -> None:
    # Enough clusters to need more than one refcount block (32768 clusters each):
    # the plan must cover every cluster of the file, its own blocks included.
    for n in (0, 1, 32760, 32761, 32762, 32763, 32768, 70000):
        size = (n + 1) * C
        allocated = range(n)
        rt, rb, l1c = qcow2._plan(size, n, qcow2._ceil(n, qcow2.L2_ENTRIES))
        total = 1 + rt + rb + l1c + qcow2._ceil(n, qcow2.L2_ENTRIES) + n
        assert rb * qcow2.REFCOUNTS_PER_BLOCK >= total
        assert (rb - 1) * qcow2.REFCOUNTS_PER_BLOCK < total or rb == 1
        assert len(qcow2.head(size, allocated)) <= qcow2.metadata_bytes(size, n)


def _mapped(out: Path) -> list[tuple[int, int, int]]:
    """(guest offset, length, file offset) of the image's data, per qemu-img map."""
    mapping = json.loads(subprocess.run(
        ["qemu-img", "map", "--output=json", str(out)], capture_output=True, text=True,
        check=True,
    ).stdout)
    return [(m["start"], m["length"], m["offset"]) for m in mapping if m["data"]]


def test_more_than_one_refcount_block_is_clean(tmp_path: Path) -> None:
    # 40000 data clusters need two refcount blocks. Their data is left as holes
    # of the qcow2 file (reads as zeros, like the all-zero volume it is
    # compared with): the check is of the metadata, at no cost in disk writes.
    n = 40000
    size = n * C
    raw, out = tmp_path / "v.raw", tmp_path / "v.qcow2"
    sparse_file(raw, size, [])
    h = qcow2.head(size, range(n))
    with open(out, "wb") as fh:
        fh.write(h)
        fh.truncate(len(h) + n * C)
    _check(raw, out, size, compare=False)
    assert _mapped(out) == [(0, size, len(h))]  # one contiguous run, in order


def test_head_is_aligned_and_bounded() -> None:
    for size in (C, MIB, GIB, 10 * GIB + C):
        for allocated in ([], [0], list(range(0, size // C, 97))):
            h = qcow2.head(size, allocated)
            assert len(h) % 4096 == 0
            assert len(h) <= qcow2.metadata_bytes(size, len(allocated))
