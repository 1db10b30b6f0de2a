"""Image formats cinderlite writes itself, in one sequential pass (see `datapath.convert`).

Each format module (qcow2, vmdk, vdi) describes a *dense, metadata-first*
layout of an image of a raw volume, and nothing else (no I/O):

    UNIT: int
        Bytes per allocation unit (qcow2 cluster, vmdk grain, vdi block). A
        multiple of 4096, so every unit's offset in the output stays aligned
        for O_DIRECT.

    def head(virtual_size: int, allocated: Sequence[int]) -> bytes
        Everything written before the data: header and all metadata.
        `allocated` lists, in ascending order, the indices of the units of the
        volume that hold non-zero data (unit i covers bytes
        [i * UNIT, (i + 1) * UNIT) of the volume). The data of the k-th
        allocated unit follows the head at offset `len(head) + k * UNIT`, a
        whole unit each (the last one zero-padded past `virtual_size`); the
        file ends after the last unit. `len(head)` is a multiple of 4096.
        Units not listed read as zeros.

    def metadata_bytes(virtual_size: int, allocated_count: int, *,
                       allocated: Sequence[int] | None = None) -> int
        len(head(...)) for that many allocated units, computed without
        building it: exact when given `allocated` or where the layout does not
        depend on where the units are (vmdk, vdi), otherwise an upper bound
        (qcow2). With allocated_count 0 it is a lower bound for any volume of
        that size. The caller falls back to qemu-img for layouts whose head
        would be too large to hold in memory.

The output is a valid image that `qemu-img check` finds clean and `qemu-img
compare` finds equal to the volume; it need not be byte-identical to what
`qemu-img convert` writes.
"""

from __future__ import annotations
