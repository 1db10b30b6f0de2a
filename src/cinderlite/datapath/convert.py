"""Raw volume -> qcow2/vmdk/vdi image in one sequential write, hashed as it is written.

`qemu-img convert` writes the image into the page cache, and the image must
then be read back to be hashed: two passes over the output, and on a VM every
page of fresh page cache can cost a fault on the host. Here the image is
written the way `streams.copy_sparse` writes a raw image: metadata first, then
the data units back to back, each 8 MiB chunk read once into a reused buffer
that md5, sha512 and an O_DIRECT writer all use in place.

Two passes over the *volume* instead: the first (`scan`) reads only its data
extents (SEEK_DATA/SEEK_HOLE) to learn which allocation units hold non-zero
bytes, because the metadata that goes first in the file says where each unit
is; the second reads those units again and writes them. Zero units are left
out of the image (they read as zeros), like qemu-img's zero detection does.
The scan's read-ahead leaves the data in the page cache for the second pass
when it fits in memory; a volume with more data than the machine has free
memory is read from the disk twice (qemu-img reads it once, but then reads
its output back to hash it).

The layouts themselves are in `datapath.formats`; `qemu-img check`, `qemu-img
compare` and oslo.utils' format inspector accept their output
(tests/integration/formats).

A volume written while it is copied (a forced upload of an attached volume)
gives an image with a mix of old and new data, as any copy without a snapshot
does, but never a broken one: the layout is fixed by the scan, a unit found
zero then written stays out, one found non-zero then zeroed is stored as
zeros, and the hashes are those of the bytes written.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import mmap
import os
import threading
from array import array
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from cinderlite.datapath.extents import data_extents, is_zero
from cinderlite.datapath.hashing import HASH_ALGO, Progress
from cinderlite.datapath.streams import (
    CHUNK_SIZE,
    POOL,
    CopyPipeline,
    CopyResult,
    CopyStopped,
    read_full,
)
from cinderlite.datapath.sysio import Buffers

# Formats written here (qemu-img names); anything else goes through qemu-img.
NATIVE_FORMATS = ("qcow2", "vmdk", "vdi")
# Largest metadata block built in memory; bigger layouts (many-TiB volumes,
# mostly full) fall back to qemu-img, so memory stays bounded.
MAX_HEAD_BYTES = 64 << 20
# Bytes `scan` reads first from each unit (one page).
PROBE = 4096
# Bytes of a data extent `scan` asks the kernel to read ahead at a time.
READ_AHEAD = 32 << 20
# Users of each chunk buffer: the writer and the two hash threads.
USERS = 3


class NotNative(Exception):
    """This conversion is not one convert_native writes (the caller uses qemu-img)."""


def layout(fmt: str) -> ModuleType:
    if fmt not in NATIVE_FORMATS:
        raise NotNative(fmt)
    return importlib.import_module(f"cinderlite.datapath.formats.{fmt}")


def scan(fd: int, size: int, unit: int, *, stop: threading.Event | None = None) -> array[int]:
    """Indices (ascending) of the `unit`-sized pieces of `fd` that hold a non-zero byte.

    Only units that meet a data extent are looked at, and each first by its
    leading PROBE bytes: data is almost always non-zero there, so a unit
    costs one small read. Only a unit that starts with zeros is read whole.
    """
    found = array("q")
    buf = POOL.get()
    try:
        view = memoryview(buf)
        probe = view[: min(PROBE, unit)]
        whole = view[:unit]
        last = -1  # highest unit already decided
        advised = 0  # read-ahead requested up to here
        for start, length in data_extents(fd, size):
            first = max(start // unit, last + 1)
            end_unit = (start + length - 1) // unit
            for i in range(first, end_unit + 1):
                at = i * unit
                if at >= advised:  # ask for the next stretch to be read ahead, in bulk
                    if stop is not None and stop.is_set():
                        raise CopyStopped()
                    advised = _read_ahead(fd, at, min(start + length, at + READ_AHEAD))
                got = read_full(fd, probe, at)
                if got and not is_zero(probe[:got]):
                    found.append(i)
                    continue
                got = read_full(fd, whole, at)
                if got and not is_zero(whole[:got]):
                    found.append(i)
            last = max(last, end_unit)
        view.release()
    finally:
        POOL.put(buf)
    return found


class _VolumeShare(Progress):
    """Output bytes hashed, passed on to `volume` as the same share of its total.

    Progress is reported in volume bytes on every upload path (the upload
    progress API shows them); the image is smaller or larger than the volume.
    """

    def __init__(self, volume: Progress, total: int) -> None:
        self._volume = volume
        self._scale = volume.total / total if total else 1.0
        super().__init__(total)

    @property
    def done(self) -> int:
        return self._done

    @done.setter
    def done(self, value: int) -> None:
        self._done = value
        self._volume.done = int(value * self._scale)


def _read_ahead(fd: int, start: int, end: int) -> int:
    """Start reading [start, end) into the page cache (no wait); returns `end`.

    Without it, a volume that is not cached would be probed with one small
    synchronous read per unit (a random-read pattern); with it the disk reads
    the stretch sequentially and the probes, then the copy, find it cached.
    """
    with contextlib.suppress(OSError, AttributeError):
        os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_WILLNEED)
    return end


def convert_native(
    src: Path,
    dst: Path,
    *,
    fmt: str,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    direct: bool = True,
) -> CopyResult:
    """Write the raw file `src` as a `fmt` image to the new file `dst`; hash it as written.

    `progress` counts volume bytes (total: the volume's size), like
    `copy_sparse`'s. Raises NotNative (before creating `dst`) when `fmt` is not written here,
    the volume is beyond the layout's limits or its metadata would exceed
    MAX_HEAD_BYTES; CopyStopped when `stop` is set;
    StorageFull when `dst`'s disk fills. A partial `dst` is left for the caller
    to remove, not fsynced (the caller fsyncs before the image store's rename).
    """
    module = layout(fmt)
    unit: int = module.UNIT
    progress = progress or Progress()
    src_fd = os.open(src, os.O_RDONLY)
    try:
        size = os.fstat(src_fd).st_size
        try:
            # Before the scan, what any volume of this size needs (all of it for
            # vmdk and vdi); after it, what these units need.
            if module.metadata_bytes(size, 0) > MAX_HEAD_BYTES:
                raise NotNative(f"{fmt} metadata for a volume of {size} bytes")
            allocated = scan(src_fd, size, unit, stop=stop)
            need = module.metadata_bytes(size, len(allocated), allocated=allocated)
            if need > MAX_HEAD_BYTES:
                raise NotNative(f"{fmt} metadata for {len(allocated)} units")
            head = memoryview(module.head(size, allocated))
        except ValueError as exc:  # beyond what the layout can describe (size limits)
            raise NotNative(f"{fmt}: {exc}") from exc
        total = len(head) + len(allocated) * unit
        progress.total = size
        written = _VolumeShare(progress, total)
        with CopyPipeline(dst, progress=written, direct=direct) as pipe:
            assert pipe.writer is not None  # dst is given
            buffers, hasher, writer = pipe.buffers, pipe.hasher, pipe.writer
            out = 0  # bytes handed to the writer and hashers so far

            def emit(buf: mmap.mmap, length: int) -> None:
                # `buf` was taken for USERS: the writer calls `release` once,
                # and so does each of the hasher's two threads.
                nonlocal out
                view = memoryview(buf)[:length]
                release = functools.partial(buffers.release, buf)
                writer.put(out, view, release)
                hasher.update(view, release)
                out += length

            for at in range(0, len(head), CHUNK_SIZE):  # through aligned buffers: O_DIRECT
                piece = head[at : at + CHUNK_SIZE]
                buf = buffers.take(USERS)
                buf[: len(piece)] = piece
                emit(buf, len(piece))
            data_bytes = _copy_units(src_fd, unit, allocated, buffers, emit, stop)
            md5, sha = pipe.digests(stop)
        assert out == total
        progress.done = size
        # The size the layouts record: whole sectors, as qemu-img reports it.
        virtual_size = -(-size // 512) * 512
        return CopyResult(total, md5, HASH_ALGO, sha, data_bytes, virtual_size)
    finally:
        os.close(src_fd)


def _copy_units(
    fd: int, unit: int, allocated: array[int], buffers: Buffers,
    emit: Callable[[mmap.mmap, int], None], stop: threading.Event | None,
) -> int:
    """Pack the allocated units into full chunks, back to back; return the bytes read.

    Runs of consecutive units are read with one preadv each; a chunk may hold
    units from several runs (the output is dense). The last unit is
    zero-padded past the end of the volume.
    """
    per_chunk = CHUNK_SIZE // unit
    read = 0
    k = 0
    n = len(allocated)
    while k < n:
        if stop is not None and stop.is_set():
            raise CopyStopped()
        buf = buffers.take(USERS)
        view = memoryview(buf)
        filled = 0
        take_to = min(n, k + per_chunk)
        while k < take_to:
            first = allocated[k]
            run = 1  # consecutive units from `first`
            while k + run < take_to and allocated[k + run] == first + run:
                run += 1
            want = run * unit
            got = read_full(fd, view[filled : filled + want], first * unit)
            if got < want:  # end of the volume (or it shrank): zeros
                view[filled + got : filled + want] = bytes(want - got)
            read += got
            filled += want
            k += run
        view.release()
        emit(buf, filled)
    return read
