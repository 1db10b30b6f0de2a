"""Where a sparse file's data is: SEEK_DATA/SEEK_HOLE extents, fixed-size segments, windows.

Holes cost no reads: callers get (offset, length, is_data) segments, or data
windows and hole runs (`windows`), and feed a shared zero block to the hashers
for the hole parts instead of reading them.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator

ZERO_BLOCK_SIZE = 8 << 20
# One shared, never-written block of zeros: hole segments are hashed from
# slices of it, so skipping a hole allocates nothing.
ZERO_BLOCK = bytes(ZERO_BLOCK_SIZE)


def data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Yield (offset, length) of the regions of `fd` that may hold data, up to `size`.

    File systems without SEEK_DATA support report the whole file as data.
    """
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole remains
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield offset, size - offset
                return
            raise
        if start >= size:
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        yield start, end - start
        offset = end


def segments(
    fd: int, size: int, chunk_size: int = ZERO_BLOCK_SIZE
) -> Iterator[tuple[int, int, bool]]:
    """Cover [0, size) with (offset, length, is_data) pieces of at most `chunk_size` bytes."""
    if chunk_size > ZERO_BLOCK_SIZE:
        raise ValueError("chunk_size larger than the zero block")
    pos = 0
    for start, length in data_extents(fd, size):
        yield from _split(pos, start - pos, False, chunk_size)
        yield from _split(start, length, True, chunk_size)
        pos = start + length
    yield from _split(pos, size - pos, False, chunk_size)


def _split(
    offset: int, length: int, is_data: bool, chunk_size: int
) -> Iterator[tuple[int, int, bool]]:
    end = offset + length
    while offset < end:
        n = min(chunk_size, end - offset)
        yield offset, n, is_data
        offset += n


def windows(
    extents: Iterable[tuple[int, int]], size: int, chunk_size: int
) -> Iterator[tuple[int, int, tuple[tuple[int, int], ...]]]:
    """Cover [0, size) with hole runs and data windows, in order: (offset, length, pieces).

    A hole run has no pieces and any length (it is hashed from the zero block,
    never read). A data window is at most `chunk_size` bytes, starts and ends
    with data, and lists the data ranges (`pieces`, absolute offsets) that
    `extents` (sorted, disjoint, within `size`) put inside it; the gaps between
    them are holes the window carries as zeros. Small extents close together
    thus travel as one chunk -- one read per piece, one hash update per window
    -- instead of one chunk each.
    """
    pos = 0  # [0, pos) has been yielded
    win = -1  # start of the open window, -1: none
    pieces: list[tuple[int, int]] = []

    def close() -> Iterator[tuple[int, int, tuple[tuple[int, int], ...]]]:
        nonlocal pos, win, pieces
        end = pieces[-1][0] + pieces[-1][1]
        yield win, end - win, tuple(pieces)
        pos, win, pieces = end, -1, []

    for start, length in extents:
        end = start + length
        while start < end:
            if win >= 0 and start >= win + chunk_size:
                yield from close()
            if win < 0:
                if start > pos:
                    yield pos, start - pos, ()
                win = start
            take = min(end, win + chunk_size) - start
            pieces.append((start, take))
            start += take
            if start >= win + chunk_size:
                yield from close()
    if win >= 0:
        yield from close()
    if size > pos:
        yield pos, size - pos, ()


def allocated_bytes(fd: int, size: int) -> int:
    """Bytes of `fd` in data extents (what a sparse copy must write at most)."""
    return sum(length for _, length in data_extents(fd, size))


def is_zero(chunk: bytes | bytearray | memoryview) -> bool:
    """True when `chunk` is all zero bytes.

    A single memcmp against the shared zero block (`bytes.startswith` takes any
    buffer), so a reused bytearray or a memoryview slice is checked without
    copying it; random data is rejected by its first or last byte.
    """
    view = memoryview(chunk).cast("B") if not isinstance(chunk, bytes | bytearray) else chunk
    n = len(view)
    if n == 0:
        return True
    if view[0] or view[-1]:
        return False
    if n <= ZERO_BLOCK_SIZE:
        return ZERO_BLOCK.startswith(view)
    mv = memoryview(view)
    return all(
        ZERO_BLOCK.startswith(mv[i:i + ZERO_BLOCK_SIZE]) for i in range(0, n, ZERO_BLOCK_SIZE)
    )


MIB = 1 << 20
# Allocation granularity of qemu-img's default layout per output format (qemu
# names), for the free-space estimate: a 1 MiB extent can cost a whole block.
BLOCK_BYTES = {
    "qcow2": 64 << 10, "vmdk": 64 << 10, "vdi": 1 << 20, "vpc": 2 << 20,
    "vhdx": 32 << 20, "parallels": 1 << 20, "raw": 1,
}


def estimate_image_bytes(path: str | os.PathLike[str], *, qemu_format: str,
                         compressed: bool) -> int:
    """A conservative guess of the bytes an upload of the raw file `path` will store.

    raw: its data extents. Converted: the extents rounded up to the format's
    blocks, plus 1% and 16 MiB of metadata. gzip (`compressed`): its output can
    exceed its input a little, and a converted file and its gzip copy coexist.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        extents = list(data_extents(fd, size))
    finally:
        os.close(fd)
    data = sum(length for _, length in extents)
    if qemu_format == "raw":
        need = data
    else:
        block = BLOCK_BYTES.get(qemu_format, 1 << 20)
        blocks: set[int] = set()
        for start, length in extents:
            blocks.update(range(start // block, (start + length - 1) // block + 1))
        need = min(len(blocks) * block, size) + size // 100 + 16 * MIB
    if compressed:
        need += data + data // 100 + MIB if qemu_format != "raw" else need // 100 + MIB
    return need
