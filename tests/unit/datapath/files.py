"""Test files for the data-path tests."""

from __future__ import annotations

from pathlib import Path


def sparse_file(path: Path, size: int, pieces: list[tuple[int, bytes]]) -> bytes:
    """Write a sparse file of `size` bytes holding `pieces` (offset, data); return its bytes."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, data in pieces:
            fh.seek(offset)
            fh.write(data)
    return path.read_bytes()
