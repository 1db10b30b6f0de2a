"""The floors every upload is compared with, measured in the same run on the same
bytes: MD5 + SHA-512 in two threads from the page cache, and `qemu-img convert`
followed by the same hashing of its output."""

from __future__ import annotations

import hashlib
import resource
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import MiB
from bench.volumes import warm

CHUNK = 1 * MiB


def _hash_file(path: Path, factory: Callable[[], Any], out: dict[str, str], key: str) -> None:
    h = factory()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(view):
            h.update(view[:n])  # hashlib drops the GIL for large buffers
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
    reading the file itself from the page cache."""
    out: dict[str, str] = {}
    threads = [
        threading.Thread(target=_hash_file,
                         args=(path, lambda: hashlib.md5(usedforsecurity=False), out, "md5")),
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

    @property
    def total_s(self) -> float:
        return self.convert_s + self.hash_s


def convert_argv(src: Path, dst: Path, fmt: str, *, compress: bool, tuned: bool) -> list[str]:
    argv = ["qemu-img", "convert", "-f", "raw", "-O", fmt]
    if compress:
        argv.append("-c")
    if tuned:
        # Parallel coroutines and out-of-order writes: what a tuned caller would pass.
        argv += ["-m", "16", "-W"]
    return [*argv, str(src), str(dst)]


def convert_floor(src: Path, fmt: str, scratch: Path, *, compress: bool = False,
                  tuned: bool = False) -> ConvertFloor:
    """`qemu-img convert -f raw -O fmt src tmp`, then hash tmp as in hash_two_threads."""
    scratch.mkdir(parents=True, exist_ok=True)
    dst = scratch / f"floor.{fmt}"
    dst.unlink(missing_ok=True)
    argv = convert_argv(src, dst, fmt, compress=compress, tuned=tuned)
    try:
        warm(src)
        c0 = children_cpu()
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True,
                       env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/local/bin"})
        convert_s = time.perf_counter() - t0
        convert_cpu = children_cpu() - c0
        h = hash_two_threads(dst)
        return ConvertFloor(convert_s, h.seconds, convert_cpu + h.cpu_s, dst.stat().st_size,
                            argv)
    finally:
        dst.unlink(missing_ok=True)
