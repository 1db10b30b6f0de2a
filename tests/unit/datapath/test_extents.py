"""SEEK_DATA/SEEK_HOLE extents and the segments that cover a sparse file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cinderlite.datapath.extents import (
    ZERO_BLOCK_SIZE,
    allocated_bytes,
    data_extents,
    is_zero,
    segments,
    windows,
)

MIB = 1 << 20


def _sparse(path: Path, size: int, writes: list[tuple[int, bytes]]) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, size)
    for offset, data in writes:
        os.pwrite(fd, data, offset)
    return fd


def test_data_extents_find_written_regions_only(tmp_path: Path) -> None:
    fd = _sparse(tmp_path / "f", 64 * MIB, [(4 * MIB, b"a" * MIB), (40 * MIB, b"b" * 2 * MIB)])
    try:
        assert list(data_extents(fd, 64 * MIB)) == [(4 * MIB, MIB), (40 * MIB, 2 * MIB)]
        assert allocated_bytes(fd, 64 * MIB) == 3 * MIB
    finally:
        os.close(fd)


def test_data_extents_of_an_empty_sparse_file(tmp_path: Path) -> None:
    fd = _sparse(tmp_path / "f", 8 * MIB, [])
    try:
        assert list(data_extents(fd, 8 * MIB)) == []
    finally:
        os.close(fd)


def test_segments_cover_the_file_in_order_with_bounded_pieces(tmp_path: Path) -> None:
    size = 30 * MIB + 123
    fd = _sparse(tmp_path / "f", size, [(MIB, b"x" * 20 * MIB), (size - 100, b"t" * 100)])
    try:
        pieces = list(segments(fd, size, chunk_size=4 * MIB))
    finally:
        os.close(fd)
    pos = 0
    for offset, length, _ in pieces:
        assert offset == pos
        assert 0 < length <= 4 * MIB
        pos += length
    assert pos == size
    assert next(p for p in pieces if p[2])[0] == MIB
    assert pieces[-1][2] is True


def test_segments_refuse_chunks_larger_than_the_zero_block(tmp_path: Path) -> None:
    fd = _sparse(tmp_path / "f", MIB, [])
    try:
        with pytest.raises(ValueError, match="zero block"):
            list(segments(fd, MIB, chunk_size=ZERO_BLOCK_SIZE * 2))
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("chunk", "zero"),
    [
        (b"", True),
        (bytes(10), True),
        (bytes(ZERO_BLOCK_SIZE), True),
        (b"\0" * 9 + b"\1", False),
        (b"\1" + bytes(9), False),
        (bytes(5000) + b"\7" + bytes(5000), False),
        (bytes(ZERO_BLOCK_SIZE - 1) + b"\1", False),
    ],
)
def test_is_zero(chunk: bytes, zero: bool) -> None:
    assert is_zero(chunk) is zero


def _check_cover(out: list[tuple[int, int, tuple[tuple[int, int], ...]]], size: int) -> None:
    """In order, gap-free, holes never empty, windows start and end with data."""
    pos = 0
    for offset, length, pieces in out:
        assert offset == pos
        assert length > 0
        if pieces:
            assert pieces[0][0] == offset
            assert pieces[-1][0] + pieces[-1][1] == offset + length
        pos += length
    assert pos == size


def test_windows_group_nearby_extents_and_keep_long_holes_whole() -> None:
    k = 1024
    extents = [(0, 4 * k), (8 * k, 4 * k), (20 * k, 4 * k), (100 * k, 50 * k), (1000 * k, 8 * k)]
    out = list(windows(extents, 2000 * k, chunk_size=32 * k))
    _check_cover(out, 2000 * k)
    assert out == [
        (0, 24 * k, ((0, 4 * k), (8 * k, 4 * k), (20 * k, 4 * k))),  # gaps carried as zeros
        (24 * k, 76 * k, ()),
        (100 * k, 32 * k, ((100 * k, 32 * k),)),  # a long extent is split at chunk_size
        (132 * k, 18 * k, ((132 * k, 18 * k),)),
        (150 * k, 850 * k, ()),  # one hole run, however long
        (1000 * k, 8 * k, ((1000 * k, 8 * k),)),
        (1008 * k, 992 * k, ()),
    ]


def test_windows_of_a_file_without_data_or_without_holes() -> None:
    assert list(windows([], 10 * MIB, MIB)) == [(0, 10 * MIB, ())]
    assert list(windows([], 0, MIB)) == []
    full = list(windows([(0, 5 * MIB + 3)], 5 * MIB + 3, 2 * MIB))
    _check_cover(full, 5 * MIB + 3)
    assert [length for _, length, _ in full] == [2 * MIB, 2 * MIB, MIB + 3]


def test_windows_never_exceed_chunk_size_on_random_layouts() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        size = rng.randrange(1, 400) * 4096
        starts = sorted(rng.sample(range(size // 4096), rng.randrange(0, size // 4096 + 1)))
        extents: list[tuple[int, int]] = []
        for block in starts:  # merge adjacent blocks into extents, as SEEK_DATA reports them
            if extents and extents[-1][0] + extents[-1][1] == block * 4096:
                extents[-1] = (extents[-1][0], extents[-1][1] + 4096)
            else:
                extents.append((block * 4096, 4096))
        chunk = rng.choice([4096, 3 * 4096, 64 * 1024])
        out = list(windows(extents, size, chunk))
        _check_cover(out, size)
        assert all(length <= chunk for _, length, pieces in out if pieces)
        covered = [p for _, _, pieces in out for p in pieces]
        assert sum(n for _, n in covered) == sum(n for _, n in extents)
