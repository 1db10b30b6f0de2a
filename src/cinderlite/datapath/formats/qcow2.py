"""qcow2 (version 3, compat 1.1) laid out metadata-first, for a one-pass write.

The layout follows QEMU's format specification (docs/interop/qcow2.txt) with
the defaults `qemu-img convert -O qcow2` uses in QEMU 7.2: 64 KiB clusters,
16-bit refcounts, zlib compression type (nothing is compressed), no backing
file, no extended L2 entries, no lazy refcounts. All integers are big-endian.

    cluster 0                  header (112 bytes, then the empty header
                               extension list's end marker)
    refcount table             `rt` clusters; entry j -> refcount block j
    refcount blocks            `rb` clusters; every cluster of the file has
                               refcount 1, all others 0
    L1 table                   `l1c` clusters; entry i -> L2 table of the
                               i-th 512 MiB of the volume, or 0
    L2 tables                  one cluster per 512 MiB that holds data;
                               entry -> the data cluster, or 0 (reads as zeros)
    data clusters              the allocated clusters in volume order

Every cluster has refcount 1, so L1 and L2 entries carry the COPIED flag (bit
63), as the specification requires for `qemu-img check` to find the image
clean. The refcount blocks must count themselves: their number is found by
iterating until it covers the whole file.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Sequence

CLUSTER_BITS = 16
UNIT = 1 << CLUSTER_BITS  # cluster size
L2_ENTRIES = UNIT // 8  # 8192: one L2 table maps 512 MiB
REFCOUNTS_PER_BLOCK = UNIT // 2  # 16-bit refcounts: one block counts 2 GiB of file
RT_ENTRIES = UNIT // 8
COPIED = 1 << 63
MAGIC = 0x514649FB
HEADER_LENGTH = 112
_HEADER = struct.Struct(">IIQIIQIIQQIIQQQQIIB7x")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _l1_size(virtual_size: int) -> int:
    return _ceil(virtual_size, UNIT * L2_ENTRIES)


def _sectors(virtual_size: int) -> int:
    """The size the header records: whole 512-byte sectors, as qemu-img does
    (QEMU drops a partial last sector, which would lose a volume's tail)."""
    return _ceil(virtual_size, 512) * 512


def _plan(virtual_size: int, allocated_count: int, l2_count: int) -> tuple[int, int, int]:
    """(refcount table clusters, refcount block clusters, L1 clusters)."""
    l1_size = _l1_size(virtual_size)
    l1c = _ceil(l1_size * 8, UNIT)  # 0 for an empty disk: nothing to point at
    rt, rb = 1, 1
    while True:
        total = 1 + rt + rb + l1c + l2_count + allocated_count
        new_rb = _ceil(total, REFCOUNTS_PER_BLOCK)
        new_rt = max(1, _ceil(new_rb, RT_ENTRIES))
        if (new_rt, new_rb) == (rt, rb):
            return rt, rb, l1c
        rt, rb = max(rt, new_rt), max(rb, new_rb)


def _regions(allocated: Sequence[int]) -> list[int]:
    """The 512 MiB regions (L1 indices) holding the clusters `allocated`."""
    return sorted({i // L2_ENTRIES for i in allocated})


def metadata_bytes(
    virtual_size: int, allocated_count: int, *, allocated: Sequence[int] | None = None
) -> int:
    """len(head) for `allocated_count` data clusters.

    Exact with `allocated` (the clusters themselves); without it, a bound that
    assumes they spread over as many 512 MiB regions (L2 tables) as they can.
    """
    virtual_size = _sectors(virtual_size)
    if allocated is not None:
        l2_count = len(_regions(allocated))
    else:
        l2_count = min(allocated_count, _l1_size(virtual_size))
    rt, rb, l1c = _plan(virtual_size, allocated_count, l2_count)
    return (1 + rt + rb + l1c + l2_count) * UNIT


def head(virtual_size: int, allocated: Sequence[int]) -> bytes:
    """Header, refcounts, L1 and L2 tables for data clusters `allocated` (ascending)."""
    virtual_size = _sectors(virtual_size)
    n = len(allocated)
    l1_size = _l1_size(virtual_size)
    regions = _regions(allocated)
    rt, rb, l1c = _plan(virtual_size, n, len(regions))
    rt_at = 1
    rb_at = rt_at + rt
    l1_at = rb_at + rb
    l2_at = l1_at + l1c
    data_at = l2_at + len(regions)
    total = data_at + n

    out = bytearray(data_at * UNIT)
    _HEADER.pack_into(
        out, 0, MAGIC, 3, 0, 0, CLUSTER_BITS, virtual_size, 0, l1_size, l1_at * UNIT,
        rt_at * UNIT, rt, 0, 0, 0, 0, 0, 4, HEADER_LENGTH, 0,
    )
    # Header extensions end with a zero type and length: already zero.

    table = array("Q", (((rb_at + j) * UNIT) for j in range(rb)))
    _put_be(out, rt_at * UNIT, table)
    # Refcount 1 (big-endian u16) for clusters 0 .. total-1.
    out[rb_at * UNIT : rb_at * UNIT + 2 * total] = b"\0\1" * total

    l1 = array("Q", bytes(8 * l1_size))
    for k, region in enumerate(regions):
        l1[region] = ((l2_at + k) * UNIT) | COPIED
    _put_be(out, l1_at * UNIT, l1)

    slot = {region: k for k, region in enumerate(regions)}
    k = 0
    while k < n:  # one L2 table per region, filled from the run of its clusters
        region = allocated[k] // L2_ENTRIES
        l2 = array("Q", bytes(UNIT))
        base = region * L2_ENTRIES
        end = base + L2_ENTRIES
        while k < n and allocated[k] < end:
            l2[allocated[k] - base] = ((data_at + k) * UNIT) | COPIED
            k += 1
        _put_be(out, (l2_at + slot[region]) * UNIT, l2)
    return bytes(out)


def _put_be(out: bytearray, offset: int, values: array[int]) -> None:
    """Store 64-bit `values` big-endian at `offset`."""
    if sys.byteorder == "little":
        values = array("Q", values)
        values.byteswap()
    raw = values.tobytes()
    out[offset : offset + len(raw)] = raw
