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
