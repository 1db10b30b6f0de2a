"""The volume-copy rows of `make bench`: the data path's `copy_volume` (the bytes of a
snapshot or a clone) against `cp --sparse=always --reflink=auto` of the same file,
followed by an fsync of its output, in the same run.

The copy is timed in-process (no server: the snapshot API is not what is
measured, the bytes are), from the call to its return; `copy_volume` fsyncs
its output before returning, so the floor includes an fsync of cp's output
too (cp alone is shown beside it). Source and copy are on one file system:
the disk of bench/work/ (ext4 on the reference machine: no reflinks, the
sparse copy runs), and an XFS that the benchmark makes in a loop-mounted
image file under bench/work/ (reflinks) when it runs as root and mkfs.xfs is
there (Debian package xfsprogs); otherwise those rows say why they did not run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import GiB, MiB
from bench.floors import children_cpu
from bench.server import wait_for_quiet
from bench.volumes import EMPTY8G, RANDOM, SPARSE25, VolumeSpec, data_extents
from cinderlite.datapath.clone import copy_volume

TARGET_RATIO = 1.2
# A reflink of the 8 GiB volume on XFS (issue 12): O(1), whatever the size.
TARGET_REFLINK_S = 0.05
XFS_IMAGE_BYTES = 2 * GiB  # sparse; holds sparse25's 256 MiB of data twice over


@dataclass(frozen=True)
class CopyCase:
    name: str
    spec: VolumeSpec
    fs: str  # "work": the disk of bench/work/; "xfs": the loop-mounted XFS

    @property
    def target(self) -> str:
        if self.fs == "xfs" and self.spec.size > GiB:
            return f"< {TARGET_REFLINK_S * 1000:.0f} ms"
        return f"<= {TARGET_RATIO}"


COPY_CASES = [
    CopyCase("copy-sparse25", SPARSE25, "work"),
    CopyCase("copy-random", RANDOM, "work"),
    CopyCase("copy-sparse25-xfs", SPARSE25, "xfs"),
    CopyCase("copy-empty8g-xfs", EMPTY8G, "xfs"),
]


@dataclass
class CopyRow:
    case: str
    volume: str
    fs: str
    size: int
    target: str
    ours_s: list[float] = field(default_factory=list)
    ours_cpu_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # cp + fsync
    cp_s: list[float] = field(default_factory=list)
    floor_cpu_s: list[float] = field(default_factory=list)
    method: str = ""
    bytes_copied: int | None = None
    fs_type: str = ""
    verified: str = ""
    skipped: str = ""
    error: str = ""

    @property
    def best_s(self) -> float | None:
        return min(self.ours_s) if self.ours_s else None

    @property
    def best_floor_s(self) -> float | None:
        return min(self.floor_s) if self.floor_s else None

    @property
    def ratio(self) -> float | None:
        if self.best_s is None or not self.best_floor_s:
            return None
        return self.best_s / self.best_floor_s

    @property
    def met(self) -> bool | None:
        if self.best_s is None:
            return None
        if self.target.startswith("<="):
            return self.ratio is not None and self.ratio <= TARGET_RATIO
        return self.best_s < TARGET_REFLINK_S


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, stdin=subprocess.DEVNULL)


def xfs_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "skipped: mounting the XFS needs root"
    if shutil.which("mkfs.xfs") is None:
        return "skipped: mkfs.xfs missing (Debian package xfsprogs)"
    return None


@contextlib.contextmanager
def loop_xfs(work: Path) -> Iterator[Path]:
    """A fresh XFS (reflink=1) in a sparse image file, mounted at work/xfs; removed after."""
    image = work / "xfs.img"
    where = work / "xfs"
    with contextlib.suppress(subprocess.CalledProcessError):
        _run(["umount", str(where)])  # left by an interrupted run
    image.unlink(missing_ok=True)
    with image.open("wb") as fh:
        fh.truncate(XFS_IMAGE_BYTES)
    mounted = False
    try:
        _run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", str(image)])
        where.mkdir(parents=True, exist_ok=True)
        _run(["mount", "-o", "loop", str(image), str(where)])
        mounted = True
        yield where
    finally:
        if mounted:
            with contextlib.suppress(subprocess.CalledProcessError):
                _run(["umount", str(where)])
        image.unlink(missing_ok=True)


def fs_type(path: Path) -> str:
    """The type of the file system holding `path` (ext4, xfs, ...), or '' if unknown."""
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True, text=True
        ).stdout
    except OSError:
        return ""
    return out.strip()


def same_bytes(a: Path, b: Path) -> str:
    """'' when the two files hold the same bytes, else what differs. Compares the data
    extents' bytes when both files have the same extents (holes read as zeros on both
    sides), else runs `cmp`."""
    if a.stat().st_size != b.stat().st_size:
        return f"size {a.stat().st_size} != {b.stat().st_size}"
    fa, fb = os.open(a, os.O_RDONLY), os.open(b, os.O_RDONLY)
    try:
        size = os.fstat(fa).st_size
        ea, eb = data_extents(fa, size), data_extents(fb, size)
        if ea != eb:
            ok = subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 0
            return "" if ok else "cmp: bytes differ"
        for start, length in ea:
            for off in range(start, start + length, 8 * MiB):
                n = min(8 * MiB, start + length - off)
                if os.pread(fa, n, off) != os.pread(fb, n, off):
                    return f"bytes differ at {off}"
        return ""
    finally:
        os.close(fa)
        os.close(fb)


def warm(path: Path) -> None:
    """Read the file's data extents once so they sit in the page cache (holes have no
    pages to cache; reading the 8 GiB volume's holes would only cost seconds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, length in data_extents(fd, os.fstat(fd).st_size):
            for off in range(start, start + length, 8 * MiB):
                os.pread(fd, min(8 * MiB, start + length - off), off)
    finally:
        os.close(fd)


def time_ours(src: Path, dst: Path, size: int, row: CopyRow) -> None:
    dst.unlink(missing_ok=True)
    warm(src)
    c0 = time.process_time()
    t0 = time.perf_counter()
    result = copy_volume(src, dst, size_bytes=size)
    row.ours_s.append(time.perf_counter() - t0)
    row.ours_cpu_s.append(time.process_time() - c0)
    row.method = result.method
    row.bytes_copied = result.bytes_copied


def time_floor(src: Path, dst: Path, row: CopyRow) -> None:
    dst.unlink(missing_ok=True)
    warm(src)
    c0 = children_cpu() + time.process_time()
    t0 = time.perf_counter()
    _run(["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)])
    t1 = time.perf_counter()
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    t2 = time.perf_counter()
    row.cp_s.append(t1 - t0)
    row.floor_s.append(t2 - t0)
    row.floor_cpu_s.append(children_cpu() + time.process_time() - c0)
    dst.unlink()


def run_copy_case(case: CopyCase, source: Path, directory: Path, args: Any, row: CopyRow) -> None:
    """Floor and ours alternate `args.repeat` times on the same source file in `directory`."""
    row.fs_type = fs_type(directory)
    src = directory / f"{case.spec.name}.raw"
    dst = directory / f"{case.spec.name}.copy"
    if src.resolve() != source.resolve():
        src.unlink(missing_ok=True)
        _run(["cp", "--sparse=always", str(source), str(src)])
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    try:
        # One wait per case: each run takes well under a second.
        if args.quiet_wait:
            wait_for_quiet(args.quiet_wait)
        for _ in range(args.repeat):
            time_floor(src, dst, row)
            time_ours(src, dst, case.spec.size, row)
        problem = same_bytes(src, dst)
        row.verified = f"FAIL: {problem}" if problem else "ok (same bytes)"
    finally:
        dst.unlink(missing_ok=True)
        if src.resolve() != source.resolve():
            src.unlink(missing_ok=True)


def run_copies(
    cases: list[CopyCase], sources: dict[str, Path], work: Path, args: Any
) -> list[CopyRow]:
    """Run the cases: those on bench/work/'s disk beside their generated source, then
    those on XFS in one loop-mounted file system."""
    rows: list[CopyRow] = []
    xfs_cases = [c for c in cases if c.fs == "xfs"]
    for case in [c for c in cases if c.fs == "work"]:
        rows.append(_one(case, sources, sources[case.spec.name].parent, args))
    if xfs_cases:
        why = xfs_unavailable()
        if why is not None:
            for case in xfs_cases:
                row = _row(case)
                row.skipped = why
                print(f"case {case.name}: {why}", flush=True)
                rows.append(row)
        else:
            try:
                with loop_xfs(work) as where:
                    for case in xfs_cases:
                        rows.append(_one(case, sources, where, args))
            except subprocess.CalledProcessError as exc:
                err = (exc.stderr or b"").decode(errors="replace").strip()
                for case in xfs_cases:
                    if not any(r.case == case.name for r in rows):
                        row = _row(case)
                        row.error = f"XFS: {' '.join(exc.cmd)}: {err}"
                        rows.append(row)
    return rows


def _row(case: CopyCase) -> CopyRow:
    return CopyRow(case.name, case.spec.name, case.fs, case.spec.size, case.target)


def _one(case: CopyCase, sources: dict[str, Path], directory: Path, args: Any) -> CopyRow:
    print(f"case {case.name} ...", flush=True)
    row = _row(case)
    try:
        run_copy_case(case, sources[case.spec.name], directory, args, row)
    except Exception as exc:
        row.error = f"{type(exc).__name__}: {exc}"
    print(
        f"  ours {secs(row.best_s)} s ({row.method}), floor {secs(row.best_floor_s)} s "
        f"{row.error or row.verified}",
        flush=True,
    )
    return row


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def secs(v: float | None) -> str:
    """Seconds with 3 decimals, 4 under 10 ms (a reflink takes about a millisecond)."""
    return fmt(v, ".4f" if v is not None and v < 0.01 else ".3f")


def copy_table(rows: list[CopyRow]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "case",
        "fs",
        "ours s",
        "floor s",
        "ratio",
        "target",
        "cp s",
        "method",
        "copied MiB",
        "MiB/s",
        "CPU s ours/floor",
        "check",
    ]
    out = []
    for r in rows:
        met = r.met
        mark = "" if met is None else (" ok" if met else " MISS")
        ratio = fmt(r.ratio) + (mark if r.target.startswith("<=") else "")
        ours = secs(r.best_s) + (mark if not r.target.startswith("<=") else "")
        mibs = None if not r.best_s else r.size / MiB / r.best_s
        copied = None if r.bytes_copied is None else r.bytes_copied / MiB
        cpu = (
            f"{fmt(min(r.ours_cpu_s) if r.ours_cpu_s else None)}/"
            f"{fmt(min(r.floor_cpu_s) if r.floor_cpu_s else None)}"
        )
        out.append(
            [
                r.case,
                r.fs_type or r.fs,
                ours,
                secs(r.best_floor_s),
                ratio,
                r.target,
                secs(min(r.cp_s) if r.cp_s else None),
                r.method or "-",
                fmt(copied, ".0f"),
                fmt(mibs, ".0f"),
                cpu,
                r.skipped or r.error or r.verified,
            ]
        )
    return headers, out


COPY_LEGEND = (
    "volume copies (snapshot/clone bytes, datapath.clone.copy_volume, in-process): "
    "ours = best of --repeat copies, fsync included; floor = `cp --sparse=always "
    "--reflink=auto` of the same file plus an fsync of its output (cp s: cp alone), "
    "best of as many runs, alternating with ours, page cache warm; ratio = ours / floor; "
    "the 8 GiB XFS row's target is absolute (a reflink); copied MiB = data bytes moved "
    "(0 for a reflink); CPU s = CPU seconds of the copy / of cp and the fsync."
)
