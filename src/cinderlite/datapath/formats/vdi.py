"""VirtualBox VDI layout: a dynamic (image type 1), version 1.1 image, as `qemu-img convert -O vdi`.

The file, all integers little-endian (VirtualBox `VDICore.h`; QEMU `block/vdi.c`):

    0        pre-header: 64 bytes of text, then signature 0xbeda107f and
             version 0x00010001 (1.1)
    0x48     header 1.1 (`VDIHEADER1`, 0x180 bytes counted from `header_size`):
             header_size, image_type, image_flags, description[256],
             offset_bmap, offset_data, legacy geometry (cylinders, heads,
             sectors, sector_size = 512), unused, disk_size (u64),
             block_size (1 MiB), block_extra, blocks_in_image,
             blocks_allocated, four UUIDs (image, last snapshot, link, parent)
    0x1c8    zeros (QEMU's `unused2`)
    0x200    block map: one u32 per block of the disk, the index of the data
             block holding it, or 0xffffffff (never allocated, reads as zeros)
    offset_data   data blocks, 1 MiB each, block k at offset_data + k * 1 MiB

What qemu-img 7.2 writes, and what this module copies: the QEMU text
"<<< QEMU VM Virtual Disk Image >>>\\n" (the text is not checked by readers),
header size 0x180 (VirtualBox reads the LCHS geometry of the longer 1.1+
header only when the header is at least 0x190 bytes), block map at 0x200,
geometry fields 0 with sector size 512, disk size rounded up to 512, random
image and last-snapshot UUIDs stored in VirtualBox's byte order
(`uuid.UUID.bytes_le`), zero link and parent UUIDs (a base image, no parent).

One difference: qemu-img puts the data right after the block map rounded up to
512 bytes; here it starts at the next multiple of 4096, so every block stays
aligned for O_DIRECT. Readers only require `offset_data` to be a multiple of 512
(QEMU) and past the block map (VirtualBox `vdiValidateHeader`); VirtualBox
itself aligns to 1 MiB.

Blocks are numbered densely in the order of the volume, so `blocks_allocated`
is both the count that `qemu-img check` verifies and the next free block number
QEMU or VirtualBox use when they write to the image later.
"""

from __future__ import annotations

import struct
import sys
import uuid
from array import array
from collections.abc import Sequence
from itertools import islice
from operator import lt

UNIT = 1 << 20  # block size; QEMU opens no other

TEXT = b"<<< QEMU VM Virtual Disk Image >>>\n"
SIGNATURE = 0xBEDA107F
VERSION_1_1 = 0x00010001
HEADER_SIZE = 0x180
IMAGE_TYPE_DYNAMIC = 1
SECTOR_SIZE = 512
BMAP_OFFSET = 0x200
UNALLOCATED = 0xFFFFFFFF
ALIGN = 4096

# QEMU refuses more blocks than 0xffffffff / 4 (`VDI_BLOCKS_IN_IMAGE_MAX`), and
# offset_data is a u32: the block map must end before the last 4 KiB of 4 GiB.
MAX_BLOCKS = min(0x3FFFFFFF, (0xFFFFFFFF // ALIGN * ALIGN - BMAP_OFFSET) // 4)

_HEADER = struct.Struct(
    "<64s II"  # pre-header: text, signature, version
    " III 256s"  # header_size, image_type, image_flags, description
    " II"  # offset_bmap, offset_data
    " IIII I"  # cylinders, heads, sectors, sector_size, unused1
    " QIIII"  # disk_size, block_size, block_extra, blocks_in_image, blocks_allocated
    " 16s16s16s16s"  # uuid_image, uuid_last_snap, uuid_link, uuid_parent
    " 56x"  # unused2
)
assert _HEADER.size == BMAP_OFFSET

if array("I").itemsize != 4:  # pragma: no cover - every platform CPython targets today
    raise ImportError("array('I') is not 32 bits wide")


def _blocks(virtual_size: int) -> int:
    if virtual_size < 0:
        raise ValueError(f"negative virtual size {virtual_size}")
    return -(-virtual_size // UNIT)


def _head_length(blocks: int) -> int:
    return -(-(BMAP_OFFSET + 4 * blocks) // ALIGN) * ALIGN


def metadata_bytes(
    virtual_size: int, allocated_count: int, *, allocated: Sequence[int] | None = None
) -> int:
    """Header plus block map, which do not depend on `allocated_count`.

    Never raises for sizes past MAX_BLOCKS: the caller then sees a head of
    about 4 GiB and falls back to qemu-img, which reports the size itself.
    """
    return _head_length(_blocks(virtual_size))


def _block_map(blocks: int, allocated: Sequence[int]) -> bytes:
    n = len(allocated)
    if n == 0:
        return b"\xff\xff\xff\xff" * blocks
    if allocated[0] < 0 or allocated[-1] >= blocks:
        raise ValueError(f"allocated units must lie in [0, {blocks})")
    if not all(map(lt, allocated, islice(allocated, 1, None))):
        raise ValueError("allocated units must be strictly ascending")
    if n == blocks:  # ascending, distinct and in range: every block, in order
        bmap = array("I", range(blocks))
    else:
        bmap = array("I", [UNALLOCATED]) * blocks
        for k, i in enumerate(allocated):
            bmap[i] = k
    if sys.byteorder == "big":  # pragma: no cover - the map is little-endian on disk
        bmap.byteswap()
    return bmap.tobytes()


def head(
    virtual_size: int,
    allocated: Sequence[int],
    *,
    image_uuid: uuid.UUID | None = None,
    modify_uuid: uuid.UUID | None = None,
) -> bytes:
    """Pre-header, header and block map, zero-padded to the first data block.

    `image_uuid` and `modify_uuid` default to fresh random UUIDs, as qemu-img's.
    Raises ValueError if `allocated` is not ascending within the volume, or the
    volume needs more than MAX_BLOCKS blocks.
    """
    blocks = _blocks(virtual_size)
    if blocks > MAX_BLOCKS:
        raise ValueError(f"{virtual_size} bytes is too large for a VDI image")
    length = _head_length(blocks)
    out = bytearray(length)
    _HEADER.pack_into(
        out,
        0,
        TEXT,
        SIGNATURE,
        VERSION_1_1,
        HEADER_SIZE,
        IMAGE_TYPE_DYNAMIC,
        0,  # image_flags
        b"",  # description
        BMAP_OFFSET,
        length,  # offset_data
        0,  # legacy geometry unset, as qemu-img writes it
        0,
        0,
        SECTOR_SIZE,
        0,
        -(-virtual_size // SECTOR_SIZE) * SECTOR_SIZE,
        UNIT,
        0,  # block_extra
        blocks,
        len(allocated),
        (uuid.uuid4() if image_uuid is None else image_uuid).bytes_le,
        (uuid.uuid4() if modify_uuid is None else modify_uuid).bytes_le,
        bytes(16),  # link: a base image
        bytes(16),  # parent: no differencing
    )
    out[BMAP_OFFSET : BMAP_OFFSET + 4 * blocks] = _block_map(blocks, allocated)
    return bytes(out)
