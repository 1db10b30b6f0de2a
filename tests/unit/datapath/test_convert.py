"""One-pass native conversion: the bytes of the reference layout, hashed as written."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path

import pytest

from cinderlite.datapath import convert
from cinderlite.datapath.formats import qcow2
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import CopyStopped
from tests.unit.datapath.files import sparse_file, write_sparse
from tests.unit.datapath.formats.reference import write_image

MIB = 1 << 20
C = qcow2.UNIT


def _assert_hashes(result: convert.CopyResult, out: Path) -> None:
    data = out.read_bytes()
    assert result.size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert result.os_hash_value == hashlib.sha512(data).hexdigest()


def _volume(tmp_path: Path, size: int, seed: int = 3) -> Path:
    """Scattered data, written zeros inside data extents, runs across chunk boundaries."""
    rng = random.Random(seed)
    pieces = [(rng.randrange(size - 300), rng.randbytes(rng.randrange(1, 300))) for _ in range(40)]
    pieces.append((MIB, bytes(3 * C)))  # allocated on disk, all zero: not in the image
    pieces.append((5 * MIB, rng.randbytes(20 * MIB)))  # longer than a chunk
    pieces.append((size - 10, b"last bytes"))
    src = tmp_path / "v.raw"
    sparse_file(src, size, pieces)
    return src


@pytest.mark.parametrize("size", [40 * MIB, 40 * MIB + 512])
def test_qcow2_is_the_reference_layout_byte_for_byte(tmp_path: Path, size: int) -> None:
    src = _volume(tmp_path, size)
    ref, out = tmp_path / "ref.qcow2", tmp_path / "out.qcow2"
    units = write_image(qcow2, src, ref)
    progress = Progress()
    result = convert.convert_native(src, out, fmt="qcow2", progress=progress)
    assert out.read_bytes() == ref.read_bytes()
    _assert_hashes(result, out)
    assert progress.done == progress.total == size  # volume bytes, as on the other paths
    assert MIB // C not in units  # the written zeros were left out
    short = C - size % C if size % C else 0  # the last unit is partly past the end
    assert units[-1] == (size - 1) // C
    assert result.data_bytes == len(units) * C - short


@pytest.mark.parametrize("fmt", ["vmdk", "vdi"])
def test_other_formats_carry_the_same_data_after_their_head(tmp_path: Path, fmt: str) -> None:
    # Their heads hold random identifiers; the data after the head is what counts.
    src = _volume(tmp_path, 64 * MIB, seed=9)
    ref, out = tmp_path / f"ref.{fmt}", tmp_path / f"out.{fmt}"
    write_image(convert.layout(fmt), src, ref)
    result = convert.convert_native(src, out, fmt=fmt)
    _assert_hashes(result, out)
    a, b = ref.read_bytes(), out.read_bytes()
    assert len(a) == len(b)
    head = len(convert.layout(fmt).head(64 * MIB, []))
    data_at = len(a) - (len(a) - head) // convert.layout(fmt).UNIT * convert.layout(fmt).UNIT
    assert a[data_at:] == b[data_at:]


@pytest.mark.parametrize("seed", range(6))
def test_random_layouts_pack_across_chunks_like_the_reference(tmp_path: Path, seed: int) -> None:
    # Units scattered and in runs of every length, so chunks mix runs, start
    # and end mid-run, and the last chunk is partial.
    rng = random.Random(seed)
    size = 48 * MIB
    pieces = []
    at = 0
    while at < size - C:
        at += rng.choice([0, C, 3 * C, MIB, 5 * MIB])
        n = rng.choice([1, C // 2, C, 7 * C, 2 * MIB])
        pieces.append((min(at, size - n), rng.randbytes(n)))
        at += n
    src = tmp_path / "v.raw"
    sparse_file(src, size, pieces)
    ref, out = tmp_path / "ref.qcow2", tmp_path / "out.qcow2"
    write_image(qcow2, src, ref)
    result = convert.convert_native(src, out, fmt="qcow2")
    assert out.read_bytes() == ref.read_bytes()
    _assert_hashes(result, out)


def test_buffers_are_reused_only_once_every_user_is_done(tmp_path: Path) -> None:
    # 96 MiB of data is 12 chunks through 4 buffers: each buffer is refilled
    # several times, so one handed back before both hash threads and the
    # writer finished would corrupt the output or its hashes.
    src = tmp_path / "v.raw"
    sparse_file(src, 100 * MIB, [(MIB, os.urandom(96 * MIB))])
    ref, out = tmp_path / "ref.qcow2", tmp_path / "out.qcow2"
    write_image(qcow2, src, ref)
    for _ in range(2):
        out.unlink(missing_ok=True)
        result = convert.convert_native(src, out, fmt="qcow2")
        assert out.read_bytes() == ref.read_bytes()
        _assert_hashes(result, out)


def test_empty_volume_is_only_a_head(tmp_path: Path) -> None:
    src = tmp_path / "v.raw"
    sparse_file(src, 8 * MIB, [(MIB, bytes(4096))])  # only written zeros
    result = convert.convert_native(src, tmp_path / "out", fmt="qcow2")
    assert result.size == len(qcow2.head(8 * MIB, []))
    _assert_hashes(result, tmp_path / "out")


def test_scan_finds_units_with_data_past_a_zero_probe(tmp_path: Path) -> None:
    src = tmp_path / "v.raw"
    # Unit 1 starts with zeros (the probe reads zeros) and has data at its end;
    # unit 3 is written zeros; unit 5 is data from its first byte.
    sparse_file(src, 8 * C, [(C, bytes(C - 1) + b"x"), (3 * C, bytes(C)), (5 * C, b"y")])
    fd = os.open(src, os.O_RDONLY)
    try:
        assert list(convert.scan(fd, 8 * C, C)) == [1, 5]
    finally:
        os.close(fd)


def test_unknown_format_and_oversized_metadata_are_not_native(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _volume(tmp_path, 8 * MIB)
    with pytest.raises(convert.NotNative):
        convert.convert_native(src, tmp_path / "a", fmt="vpc")
    monkeypatch.setattr(convert, "MAX_HEAD_BYTES", 4096)
    with pytest.raises(convert.NotNative):
        convert.convert_native(src, tmp_path / "b", fmt="qcow2")
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()  # raised before the output was created


def test_stop_stops_the_copy(tmp_path: Path) -> None:
    src = _volume(tmp_path, 64 * MIB)
    stop = threading.Event()
    stop.set()
    with pytest.raises(CopyStopped):
        convert.convert_native(src, tmp_path / "out", fmt="qcow2", stop=stop)


def test_qcow2_size_check_uses_the_clusters_found_not_the_worst_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 clusters in one 512 MiB region of a 64 GiB volume: one L2 table. The
    # worst case (one L2 table per cluster, up to 128) would pass the limit.
    monkeypatch.setattr(convert, "MAX_HEAD_BYTES", 1 << 20)
    src = tmp_path / "v.raw"
    write_sparse(src, 64 << 30, [(3 * MIB, os.urandom(200 * C))])
    out = tmp_path / "out.qcow2"
    result = convert.convert_native(src, out, fmt="qcow2")
    assert result.size == out.stat().st_size
    assert out.stat().st_size - 200 * C < 1 << 20


def test_a_volume_too_big_for_the_layout_is_refused_before_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("scanned a volume whose metadata alone is too big")

    monkeypatch.setattr(convert, "scan", no_scan)
    src = tmp_path / "v.raw"
    write_sparse(src, 600 << 30, [(0, b"x")])  # vmdk: 128 KiB of grain tables per GiB
    with pytest.raises(convert.NotNative):
        convert.convert_native(src, tmp_path / "out.vmdk", fmt="vmdk")
    assert not (tmp_path / "out.vmdk").exists()
