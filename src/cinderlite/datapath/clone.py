"""Point-in-time copies of volume files (snapshots, clones): a reflink where the
file system shares extents (FICLONE), else a sparse copy of the data extents.

(Provisional: the lead's minimal version, to be replaced by the data path's.)
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cinderlite.datapath.extents import data_extents
from cinderlite.domain.errors import StorageFull

FICLONE = 0x40049409
_NO_REFLINK = {errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.ENOSYS}


@dataclass(frozen=True)
class CopyResult:
    method: str
    bytes_copied: int


def copy_file(src: Path, dst: Path, *, size_bytes: int) -> CopyResult:
    sfd = os.open(src, os.O_RDONLY)
    try:
        size = os.fstat(sfd).st_size
        if size_bytes < size:
            raise ValueError(f"a copy of {size} bytes cannot be {size_bytes} bytes long")
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                method, copied = "reflink", 0
                try:
                    fcntl.ioctl(dfd, FICLONE, sfd)
                except OSError as exc:
                    if exc.errno not in _NO_REFLINK:
                        raise
                    method, copied = "sparse", _sparse(sfd, dfd, size)
                os.ftruncate(dfd, size_bytes)
                os.fsync(dfd)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise StorageFull(f"No space left for a copy of {src.name}") from exc
                raise
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
    return CopyResult(method, copied)


def _sparse(sfd: int, dfd: int, size: int) -> int:
    copied = 0
    for start, length in data_extents(sfd, size):
        offset, end = start, start + length
        while offset < end:
            n = os.copy_file_range(sfd, dfd, end - offset, offset, offset)
            if n == 0:
                break
            offset += n
            copied += n
    return copied
