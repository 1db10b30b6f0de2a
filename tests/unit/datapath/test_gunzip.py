"""Unwrapping `compressed` images before a volume is made from them: bounded, checked."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from cinderlite.datapath.compress import gunzip_file
from cinderlite.domain.errors import ImageUnacceptable

MiB = 1 << 20


def unpack(tmp_path: Path, packed: bytes, limit: int = 16 * MiB) -> bytes:
    src = tmp_path / "packed"
    src.write_bytes(packed)
    dst = tmp_path / "unpacked"
    fd = os.open(src, os.O_RDONLY)
    try:
        size = gunzip_file(fd, dst, limit=limit, image_id="img")
    finally:
        os.close(fd)
    data = dst.read_bytes()
    assert len(data) == size
    return data


def test_every_member_is_unpacked_and_zeros_stay_holes(tmp_path: Path) -> None:
    body = os.urandom(MiB) + bytes(8 * MiB) + b"tail"
    packed = gzip.compress(body[:3 * MiB]) + gzip.compress(body[3 * MiB:])
    assert unpack(tmp_path, packed) == body
    assert (tmp_path / "unpacked").stat().st_blocks * 512 < 4 * MiB


def test_a_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    with pytest.raises(ImageUnacceptable, match="more than the volume holds"):
        unpack(tmp_path, gzip.compress(bytes(64 * MiB)), limit=8 * MiB)


@pytest.mark.parametrize(
    ("packed", "reason"),
    [
        (b"not gzip at all", "Only gzip is supported"),
        (gzip.compress(b"x" * 100_000)[:-12], "corrupt"),  # truncated
        (gzip.compress(b"x" * 1000)[:-8] + b"\0" * 8, "corrupt"),  # bad CRC
    ],
)
def test_bad_gzip_is_unacceptable(tmp_path: Path, packed: bytes, reason: str) -> None:
    with pytest.raises(ImageUnacceptable, match=reason):
        unpack(tmp_path, packed)
