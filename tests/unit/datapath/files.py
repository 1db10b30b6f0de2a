"""Test files for the data-path tests."""

from __future__ import annotations

from pathlib import Path


def write_sparse(path: Path, size: int, pieces: list[tuple[int, bytes]]) -> None:
    """Write a sparse file of `size` bytes holding `pieces` (offset, data)."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, data in pieces:
            fh.seek(offset)
            fh.write(data)


def sparse_file(path: Path, size: int, pieces: list[tuple[int, bytes]]) -> bytes:
    """`write_sparse`, then return the file's bytes (small files only)."""
    write_sparse(path, size, pieces)
    return path.read_bytes()
