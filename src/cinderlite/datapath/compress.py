"""gzip for `container_format=compressed` (Cinder's only compression_format).

`gzip_file` reads the source sparse-aware (holes are compressed from the zero
block, not read), writes the gzip stream to a new file and hashes what it
writes. `gunzip_file` unwraps such an image before a volume is made from it,
bounded, so that a small bomb cannot fill the disk.
"""

from __future__ import annotations

import gzip
import os
import threading
import zlib
from pathlib import Path

from cinderlite.datapath.extents import ZERO_BLOCK, segments
from cinderlite.datapath.hashing import HASH_ALGO, ParallelHasher, Progress
from cinderlite.datapath.streams import (
    CHUNK_SIZE,
    CopyResult,
    CopyStopped,
    pwrite_all,
    pwrite_sparse,
)
from cinderlite.domain.errors import ImageUnacceptable

# Level 1: several times faster than gzip's default 6 and close in ratio on
# disk images, whose bulk is zeros (compress to almost nothing at any level) or
# already-compressed data (does not shrink at any level).
GZIP_LEVEL = 1


def gzip_file(
    src: Path,
    dst: Path,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    level: int = GZIP_LEVEL,
) -> CopyResult:
    """Write gzip(src) to the new file `dst`; return the hashes of the gzip bytes.

    Raises CopyStopped when `stop` is set and StorageFull when the disk is full;
    a partial `dst` is left for the caller to remove.
    """
    progress = progress or Progress()
    src_fd = os.open(src, os.O_RDONLY)
    dst_fd = -1
    hasher = ParallelHasher()
    try:
        size = os.fstat(src_fd).st_size
        progress.total = size
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        comp = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = memoryview(ZERO_BLOCK)
        out_pos = 0
        read = 0

        def emit(data: bytes) -> None:
            nonlocal out_pos
            if data:
                hasher.update(data)
                pwrite_all(dst_fd, data, out_pos)
                out_pos += len(data)

        for offset, length, is_data in segments(src_fd, size, CHUNK_SIZE):
            if stop is not None and stop.is_set():
                raise CopyStopped()
            if is_data:
                chunk = os.pread(src_fd, length, offset)
                read += len(chunk)
                emit(comp.compress(chunk))
            else:
                emit(comp.compress(zeros[:length]))
            progress.done = offset + length
        emit(comp.flush())
        md5, sha = hasher.finish()
        return CopyResult(out_pos, md5, HASH_ALGO, sha, read)
    finally:
        hasher.abort()
        os.close(src_fd)
        if dst_fd >= 0:
            os.close(dst_fd)


GZIP_MAGIC = b"\x1f\x8b"


def gunzip_file(
    src_fd: int, dst: Path, *, limit: int, image_id: str,
    stop: threading.Event | None = None,
) -> int:
    """Write the gzip data at `src_fd` (every member, CRCs checked), decompressed,
    to the new sparse file `dst`; return its size.

    ImageUnacceptable when the data is not gzip, is corrupt, or decompresses to
    more than `limit` bytes; StorageFull when the disk is full; CopyStopped when
    `stop` is set. A partial `dst` is left for the caller to remove.
    """
    if os.pread(src_fd, len(GZIP_MAGIC), 0) != GZIP_MAGIC:
        raise ImageUnacceptable(
            image_id, "Unsupported compressed image format found. Only gzip is supported currently"
        )
    dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    # A reader of its own over the same open file: the caller's fd is not moved.
    src = os.fdopen(os.dup(src_fd), "rb")
    try:
        src.seek(0)
        out = 0
        with gzip.GzipFile(fileobj=src, mode="rb") as unzipped:
            while True:
                if stop is not None and stop.is_set():
                    raise CopyStopped()
                chunk = unzipped.read(CHUNK_SIZE)
                if not chunk:
                    break
                if out + len(chunk) > limit:
                    raise ImageUnacceptable(
                        image_id, "the compressed data unpacks to more than the volume holds"
                    )
                pwrite_sparse(dst_fd, chunk, out)
                out += len(chunk)
        os.ftruncate(dst_fd, out)
        return out
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise ImageUnacceptable(image_id, "the compressed data is corrupt") from exc
    finally:
        src.close()
        os.close(dst_fd)
