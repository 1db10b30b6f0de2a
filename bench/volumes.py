"""Test volumes: generated once into bench/work/sources/, then copied (sparsely) into
the service's volume files. Random data comes from a seeded generator, so the
same seed gives the same bytes on every machine."""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import GiB, MiB

FORMAT_VERSION = 1


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    size: int  # bytes, a whole number of GiB
    data_extents: int  # 1 MiB extents of random data at random positions; the rest are holes
    seed: int

    @property
    def size_gib(self) -> int:
        return self.size // GiB

    def describe(self) -> str:
        if self.data_extents * MiB == self.size:
            return f"{self.size_gib} GiB of random data"
        pct = 100 * self.data_extents * MiB / self.size
        return f"{self.size_gib} GiB, {self.data_extents} MiB random data ({pct:.1f}%), rest holes"


SPARSE25 = VolumeSpec("sparse25", 1 * GiB, 256, seed=25)
RANDOM = VolumeSpec("random", 1 * GiB, 1024, seed=100)
EMPTY8G = VolumeSpec("empty8g", 8 * GiB, 4, seed=8)
SPECS = {s.name: s for s in (SPARSE25, RANDOM, EMPTY8G)}


def generate(spec: VolumeSpec, directory: Path) -> Path:
    """Write spec's source file (reused when its manifest matches)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{spec.name}.raw"
    manifest = directory / f"{spec.name}.json"
    want = dict(asdict(spec), version=FORMAT_VERSION)
    try:
        if json.loads(manifest.read_text()) == want and path.stat().st_size == spec.size:
            return path
    except (OSError, ValueError):
        pass
    manifest.unlink(missing_ok=True)
    rng = random.Random(spec.seed)
    extents = spec.size // MiB
    positions = sorted(rng.sample(range(extents), spec.data_extents))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, spec.size)  # holes everywhere, then the data extents
        for pos in positions:
            os.pwrite(fd, rng.randbytes(MiB), pos * MiB)
        os.fsync(fd)
    finally:
        os.close(fd)
    manifest.write_text(json.dumps(want))
    return path


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """(offset, length) of the non-hole ranges, from SEEK_DATA/SEEK_HOLE."""
    out: list[tuple[int, int]] = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: no data after pos
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        out.append((start, end - start))
        pos = end
    return out


def copy_sparse(src: Path, dst: Path) -> None:
    """Copy src's data ranges into the existing same-size file dst (a fresh sparse
    volume), leaving holes as holes, and fsync so no writeback runs during timing."""
    size = src.stat().st_size
    if dst.stat().st_size != size:
        raise RuntimeError(f"{dst} is {dst.stat().st_size} bytes, expected {size}")
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY)
    try:
        for offset, length in data_extents(sfd, size):
            done = 0
            while done < length:
                n = os.copy_file_range(sfd, dfd, length - done, offset + done, offset + done)
                if n <= 0:
                    raise RuntimeError(f"copy_file_range returned {n}")
                done += n
        os.fsync(dfd)
    finally:
        os.close(sfd)
        os.close(dfd)


def warm(path: Path) -> None:
    """Read the whole file once so its pages sit in the page cache."""
    buf = bytearray(8 * MiB)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while fh.readinto(view):
            pass


def allocated_bytes(path: Path) -> int:
    return path.stat().st_blocks * 512
