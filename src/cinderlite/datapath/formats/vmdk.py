"""VMDK monolithicSparse (hosted sparse extent, version 1) laid out for a one-pass write.

The layout follows VMware's "Virtual Disk Format 1.1" specification (hosted
sparse extents: SparseExtentHeader, grain directory, grain tables) with the
choices `qemu-img convert -O vmdk` makes in QEMU 7.2 (block/vmdk.c,
`vmdk_init_extent` and `vmdk_co_do_create`). Integers are little-endian;
offsets in the header, the grain directories and the grain tables count
512-byte sectors.

    sector 0            SparseExtentHeader: "KDMV", version 1, flags 3 (valid
                        newline test + redundant grain table), capacity,
                        grainSize 128 sectors, numGTEsPerGT 512, overHead
    sectors 1-20        embedded descriptor text, zero-padded (createType
                        "monolithicSparse", one `RW <sectors> SPARSE "<name>"`
                        extent line, ddb geometry and adapterType "ide")
    rgdOffset (21)      redundant grain directory: entry i -> redundant GT i
    redundant GTs       every grain table preallocated, 4 sectors each
    gdOffset            grain directory: entry i -> GT i
    GTs                 every grain table preallocated; same entries as the
                        redundant copy: grain j -> its first sector, or 0
                        (unallocated, reads as zeros)
    (zeros)             up to overHead, rounded up to a grain (64 KiB)
    data grains         the allocated grains in volume order, densely

Both sets of grain tables are contiguous and in volume order, so each copy is
one array of GTEs indexed by grain number. A GTE is 32 bits, so the file may
not grow past 2**32 sectors (2 TiB), as QEMU's VMDK_EXTENT_MAX_SECTORS says.
"""

from __future__ import annotations

import secrets
import struct
import sys
from array import array
from collections.abc import Sequence

SECTOR = 512
GRAIN_SECTORS = 128
UNIT = GRAIN_SECTORS * SECTOR  # grain size: 64 KiB
GTES_PER_GT = 512
GT_SECTORS = GTES_PER_GT * 4 // SECTOR  # 4
DESC_OFFSET = 1  # sectors, as qemu-img
DESC_SECTORS = 20  # qemu-img reserves 20 sectors (DESC_SIZE) and rewrites CIDs within them
RGD_OFFSET = DESC_OFFSET + DESC_SECTORS
MAX_FILE_SECTORS = 1 << 32  # 32-bit GTEs
MAX_GTS = 32 << 20  # QEMU refuses a larger grain directory ("L1 size too big")

VERSION = 1
FLAG_NL_DETECT = 1 << 0  # the four check bytes below are valid
FLAG_REDUNDANT_GT = 1 << 1  # rgdOffset is valid
NO_PARENT = 0xFFFFFFFF

# magic, version, flags, capacity, grainSize, descriptorOffset, descriptorSize,
# numGTEsPerGT, rgdOffset, gdOffset, overHead, uncleanShutdown,
# singleEndLineChar, nonEndLineChar, doubleEndLineChar1, doubleEndLineChar2,
# compressAlgorithm, then zero padding to the sector.
_HEADER = struct.Struct("<4sIIQQQQIQQQB4sH433x")
assert _HEADER.size == SECTOR

_DESCRIPTOR = """\
# Disk DescriptorFile
version=1
CID={cid:x}
parentCID={parent:x}
createType="monolithicSparse"

# Extent description
RW {sectors} SPARSE "{name}"

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.geometry.cylinders = "{cylinders}"
ddb.geometry.heads = "16"
ddb.geometry.sectors = "63"
ddb.adapterType = "ide"
ddb.toolsVersion = "2147483647"
"""

# Runs of at most this many allocated grains that are not contiguous are
# filled entry by entry; longer ones are split until the pieces are contiguous.
_SMALL_RUN = 64


class _Layout:
    """Sector positions of everything in the head, for one virtual size."""

    def __init__(self, virtual_size: int) -> None:
        if virtual_size <= 0:
            # QEMU reads a zero capacity as "descriptor file" and then refuses
            # createType monolithicSparse, so an empty disk cannot be opened.
            raise ValueError("a vmdk image needs a virtual size above zero")
        self.capacity = _ceil(virtual_size, SECTOR)  # qemu-img rounds up too
        self.grains = _ceil(self.capacity, GRAIN_SECTORS)
        self.gt_count = _ceil(self.grains, GTES_PER_GT)
        if self.gt_count > MAX_GTS:
            raise ValueError(f"virtual size {virtual_size} is too large for a vmdk image")
        self.gd_sectors = _ceil(self.gt_count * 4, SECTOR)
        self.rgt_offset = RGD_OFFSET + self.gd_sectors
        self.gd_offset = self.rgt_offset + self.gt_count * GT_SECTORS
        self.gt_offset = self.gd_offset + self.gd_sectors
        end = self.gt_offset + self.gt_count * GT_SECTORS
        self.overhead = _ceil(end, GRAIN_SECTORS) * GRAIN_SECTORS

    def check_fits(self, allocated_count: int) -> None:
        if self.overhead + allocated_count * GRAIN_SECTORS > MAX_FILE_SECTORS:
            raise ValueError(
                f"{allocated_count} grains do not fit in a vmdk sparse extent (2 TiB at most)"
            )


def metadata_bytes(
    virtual_size: int, allocated_count: int, *, allocated: Sequence[int] | None = None
) -> int:
    """len(head) for `allocated_count` grains: it depends on the virtual size only.

    Raises ValueError where `head` would (empty disk, file past 2 TiB).
    """
    layout = _Layout(virtual_size)
    layout.check_fits(allocated_count)
    return layout.overhead * SECTOR


def head(
    virtual_size: int,
    allocated: Sequence[int],
    *,
    name: str = "image.vmdk",
    cid: int | None = None,
) -> bytes:
    """Header, descriptor, both grain directories and tables for grains `allocated`.

    `allocated` must be strictly ascending. `name` is the extent file name the
    descriptor records; QEMU ignores it for a monolithicSparse file (the file
    holding the header is the extent), so the file may be renamed later. `cid`
    is the content ID; a random one by default, as qemu-img does.
    """
    layout = _Layout(virtual_size)
    layout.check_fits(len(allocated))
    if allocated and (allocated[0] < 0 or allocated[-1] >= layout.grains):
        raise ValueError("allocated grain index out of range")
    if cid is None:
        cid = secrets.randbelow(NO_PARENT - 1) + 1  # 1 .. 0xfffffffe
    header = _HEADER.pack(
        b"KDMV",
        VERSION,
        FLAG_NL_DETECT | FLAG_REDUNDANT_GT,
        layout.capacity,
        GRAIN_SECTORS,
        DESC_OFFSET,
        DESC_SECTORS,
        GTES_PER_GT,
        RGD_OFFSET,
        layout.gd_offset,
        layout.overhead,
        0,
        b"\n \r\n",
        0,
    )
    tables = _grain_tables(layout.gt_count, allocated, layout.overhead)
    used = layout.gt_offset + layout.gt_count * GT_SECTORS
    return b"".join(
        [
            header,
            _descriptor(layout.capacity, name, cid),
            _directory(layout.rgt_offset, layout.gt_count, layout.gd_sectors),
            *tables,
            _directory(layout.gt_offset, layout.gt_count, layout.gd_sectors),
            *tables,
            bytes((layout.overhead - used) * SECTOR),
        ]
    )


def _descriptor(capacity: int, name: str, cid: int) -> bytes:
    if not (0 <= cid < NO_PARENT):
        raise ValueError("CID must be a 32-bit value other than ffffffff")
    if (
        not name
        or len(name) > 255
        or not (name.isascii() and name.isprintable())
        or any(c in name for c in '"/\\')
    ):
        raise ValueError(f"unusable vmdk extent file name: {name!r}")
    text = _DESCRIPTOR.format(
        cid=cid,
        parent=NO_PARENT,
        sectors=capacity,
        name=name,
        # qemu-img: the disk size over 16 heads of 63 sectors, not capped.
        cylinders=capacity // (16 * 63),
    ).encode("ascii")
    return text.ljust(DESC_SECTORS * SECTOR, b"\0")


def _directory(first_gt: int, gt_count: int, gd_sectors: int) -> bytes:
    """A grain directory pointing at `gt_count` consecutive grain tables."""
    entries = array("I", range(first_gt, first_gt + gt_count * GT_SECTORS, GT_SECTORS))
    return _little_endian(entries).ljust(gd_sectors * SECTOR, b"\0")


def _grain_tables(
    gt_count: int, allocated: Sequence[int], first_sector: int
) -> list[bytes | bytearray]:
    """All grain tables, as pieces to join: the k-th allocated grain sits at
    sector `first_sector + k * GRAIN_SECTORS`.

    Only the tables from the first to the last allocated grain are built; the
    zeros around them stay untouched (calloc) memory until the final join.
    Contiguous runs of grains become one slice assignment of an arithmetic
    progression (C speed); a piece of `allocated` is contiguous exactly when
    its ends are as far apart as its length, because `allocated` is strictly
    ascending. Pieces neither long nor contiguous are filled one by one.
    """
    table_bytes = GTES_PER_GT * 4
    if not allocated:
        return [bytes(gt_count * table_bytes)]
    first_gt = allocated[0] // GTES_PER_GT
    end_gt = allocated[-1] // GTES_PER_GT + 1
    base = first_gt * GTES_PER_GT
    raw = bytearray((end_gt - first_gt) * table_bytes)
    with memoryview(raw) as view, view.cast("I") as gte:
        pending = [(0, len(allocated))]
        while pending:
            lo, hi = pending.pop()
            start = allocated[lo] - base
            sector = first_sector + lo * GRAIN_SECTORS
            if allocated[hi - 1] - allocated[lo] == hi - 1 - lo:
                end_sector = sector + (hi - lo) * GRAIN_SECTORS
                gte[start : start + hi - lo] = array("I", range(sector, end_sector, GRAIN_SECTORS))
            elif hi - lo <= _SMALL_RUN:
                for grain in allocated[lo:hi]:
                    gte[grain - base] = sector
                    sector += GRAIN_SECTORS
            else:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
    if sys.byteorder == "big":
        raw = bytearray(_little_endian(array("I", raw)))
    return [bytes(first_gt * table_bytes), raw, bytes((gt_count - end_gt) * table_bytes)]


def _little_endian(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array("I", values)
        values.byteswap()
    return values.tobytes()


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


assert array("I").itemsize == 4, "GTEs are 32-bit"
