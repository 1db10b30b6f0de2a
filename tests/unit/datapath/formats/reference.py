"""A plain reference writer for the format layouts: the obvious loop, for tests."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from cinderlite.datapath.extents import data_extents


def allocated_units(fd: int, size: int, unit: int) -> list[int]:
    """Indices of the `unit`-sized pieces of file `fd` that hold a non-zero byte."""
    candidates: set[int] = set()
    for start, length in data_extents(fd, size):
        candidates.update(range(start // unit, (start + length - 1) // unit + 1))
    return sorted(i for i in candidates if any(os.pread(fd, unit, i * unit)))


def write_image(
    fmt: ModuleType, raw_path: Path, out_path: Path, **head_kwargs: object
) -> list[int]:
    """Write `raw_path` as an image of format module `fmt` to `out_path`; return the units."""
    unit = fmt.UNIT
    fd = os.open(raw_path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        allocated = allocated_units(fd, size, unit)
        head = fmt.head(size, allocated, **head_kwargs)
        assert len(head) % 4096 == 0
        assert len(head) <= fmt.metadata_bytes(size, len(allocated))
        with open(out_path, "wb") as fh:
            fh.write(head)
            for i in allocated:
                fh.write(os.pread(fd, unit, i * unit).ljust(unit, b"\0"))
    finally:
        os.close(fd)
    return allocated
