"""The floors every upload is compared with, measured in the same run on the same
bytes: MD5 + SHA-512 in two threads from the page cache, and `qemu-img convert`
followed by the same hashing of its output."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import MiB
from bench.volumes import copy_sparse, data_extents, warm

CHUNK = 1 * MiB


def _hash_file(path: Path, factory: Callable[[], Any], out: dict[str, str], key: str) -> None:
    """Hash the file's bytes: data ranges read from the page cache, holes hashed from a
    zero buffer without reading (reading a hole only makes the kernel copy zeros)."""
    h = factory()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    zeros = memoryview(bytes(CHUNK))
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        for start, length in [*data_extents(fd, size), (size, 0)]:
            while pos < start:  # the hole before this data range
                n = min(CHUNK, start - pos)
                h.update(zeros[:n])  # hashlib drops the GIL for large buffers
                pos += n
            end = start + length
            while pos < end:
                n = os.preadv(fd, [view[: min(CHUNK, end - pos)]], pos)
                if n <= 0:
                    raise RuntimeError(f"short read from {path} at {pos}")
                h.update(view[:n])
                pos += n
    finally:
        os.close(fd)
    out[key] = h.hexdigest()


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass(frozen=True)
class HashFloor:
    seconds: float
    cpu_s: float
    md5: str
    sha512: str


def hash_two_threads(path: Path) -> HashFloor:
    """Seconds (and CPU seconds) to MD5 and SHA-512 the file, one thread each, each
    reading the file's data itself from the page cache."""
    out: dict[str, str] = {}
    threads = [
        threading.Thread(
            target=_hash_file, args=(path, lambda: hashlib.md5(usedforsecurity=False), out, "md5")
        ),
        threading.Thread(target=_hash_file, args=(path, hashlib.sha512, out, "sha512")),
    ]
    c0 = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    return HashFloor(seconds, time.process_time() - c0, out["md5"], out["sha512"])


@dataclass(frozen=True)
class ConvertFloor:
    convert_s: float
    hash_s: float
    cpu_s: float
    output_bytes: int
    argv: list[str]
    fsync_s: float  # making the output durable afterwards (not part of total_s)

    @property
    def total_s(self) -> float:
        return self.convert_s + self.hash_s


def fsync_seconds(path: Path) -> float:
    fd = os.open(path, os.O_RDONLY)
    try:
        t0 = time.perf_counter()
        os.fsync(fd)
        return time.perf_counter() - t0
    finally:
        os.close(fd)


def write_floor(src: Path, scratch: Path) -> float:
    """Seconds to write src's data extents into a new sparse file and fsync it: what
    making a raw image durable costs at least (copy_file_range, no hashing)."""
    scratch.mkdir(parents=True, exist_ok=True)
    dst = scratch / "floor.raw"
    dst.unlink(missing_ok=True)
    try:
        t0 = time.perf_counter()
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, src.stat().st_size)
        finally:
            os.close(fd)
        copy_sparse(src, dst)  # copies the data ranges and fsyncs
        return time.perf_counter() - t0
    finally:
        dst.unlink(missing_ok=True)


def convert_argv(src: Path, dst: Path, fmt: str, *, compress: bool, tuned: bool) -> list[str]:
    argv = ["qemu-img", "convert", "-f", "raw", "-O", fmt]
    if compress:
        argv.append("-c")
    if tuned:
        # Parallel coroutines and out-of-order writes: what a tuned caller would pass.
        argv += ["-m", "16", "-W"]
    return [*argv, str(src), str(dst)]


def convert_floor(
    src: Path, fmt: str, scratch: Path, *, compress: bool = False, tuned: bool = False
) -> ConvertFloor:
    """`qemu-img convert -f raw -O fmt src tmp`, then hash tmp as in hash_two_threads."""
    scratch.mkdir(parents=True, exist_ok=True)
    dst = scratch / f"floor.{fmt}"
    dst.unlink(missing_ok=True)
    argv = convert_argv(src, dst, fmt, compress=compress, tuned=tuned)
    try:
        warm(src)
        c0 = children_cpu()
        t0 = time.perf_counter()
        subprocess.run(
            argv,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        )
        convert_s = time.perf_counter() - t0
        convert_cpu = children_cpu() - c0
        h = hash_two_threads(dst)
        fsync_s = fsync_seconds(dst)
        return ConvertFloor(
            convert_s, h.seconds, convert_cpu + h.cpu_s, dst.stat().st_size, argv, fsync_s
        )
    finally:
        dst.unlink(missing_ok=True)
