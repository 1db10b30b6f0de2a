"""qemu-img: pure argv builders, a parser for `info --output=json`, one async runner.

The source format is always given with `-f`: qemu-img never probes, so a raw
volume whose first bytes look like qcow2 is never read as qcow2 (and cannot
make qemu-img open a backing file named inside it). Image data in any other
format reaches qemu-img only after the format inspector passed it
(`inspect.check_source`) and `check_source_info` agreed, as an open file
(`pass_fds`), so that what was checked is what is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import resource
import shutil
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinderlite.datapath.sysio import BACKGROUND_NICE, lower_io_priority
from cinderlite.domain.errors import (
    ConversionFailed,
    ImageUnacceptable,
    InvalidRequest,
    StorageFull,
)

QEMU_IMG = "qemu-img"
# util-linux prlimit and coreutils nice: resource limits and priority without a
# preexec_fn; util-linux setpriv: qemu-img dies with the service (PR_SET_PDEATHSIG).
_PRLIMIT = shutil.which("prlimit")
_NICE = shutil.which("nice")
_SETPRIV = shutil.which("setpriv")
PR_SET_PDEATHSIG = 1

# Glance disk_format -> qemu-img format name (Cinder image_utils.fixup_disk_format).
QEMU_FORMATS = {
    "raw": "raw",
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vdi": "vdi",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "ploop": "parallels",
    "iso": "raw",
}


def qemu_format(disk_format: str) -> str:
    try:
        return QEMU_FORMATS[disk_format]
    except KeyError:
        raise InvalidRequest(f"Unsupported disk format {disk_format}") from None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    virtual_size: int
    actual_size: int | None
    backing_file: str | None
    data_file: str | None
    cluster_size: int | None
    encrypted: bool
    # VMDK only: the create type and the file of every extent.
    create_type: str | None = None
    extents: tuple[str, ...] = ()


def parse_info(text: str) -> ImageInfo:
    """Parse `qemu-img info --output=json`; raises ConversionFailed on bad output."""
    try:
        data = json.loads(text)
        specific = (data.get("format-specific") or {}).get("data") or {}
        return ImageInfo(
            format=str(data["format"]),
            virtual_size=int(data["virtual-size"]),
            actual_size=data.get("actual-size"),
            backing_file=data.get("backing-filename") or data.get("full-backing-filename"),
            data_file=specific.get("data-file"),
            cluster_size=data.get("cluster-size"),
            encrypted=bool(data.get("encrypted", False)),
            create_type=specific.get("create-type"),
            extents=tuple(str(e.get("filename", "")) for e in specific.get("extents") or ()),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConversionFailed(f"Unexpected output from qemu-img info: {exc}") from exc


def info_args(path: Path, fmt: str) -> list[str]:
    return [QEMU_IMG, "info", "-f", fmt, "--output=json", str(path)]


def convert_args(
    src: Path,
    dst: Path,
    *,
    src_format: str,
    dst_format: str,
    compress: bool = False,
    compression_type: str | None = None,
    coroutines: int = 8,
    out_of_order: bool = True,
    target_is_zero: bool = False,
    cache: str | None = None,
) -> list[str]:
    """Argv for `qemu-img convert` with explicit source and destination formats.

    `-W` (out-of-order writes) and `-m` (parallel coroutines) speed up
    compression and sparse sources; `-c` compresses qcow2 (Cinder's
    image_compress_on_upload); `compression_type=zstd` is faster than zlib but
    needs QEMU >= 5.1 to read back. `target_is_zero`: `dst` exists and reads as
    zeros (it keeps its mode and size).
    """
    args = [QEMU_IMG, "convert", "-f", src_format, "-O", dst_format]
    if cache:
        args += ["-t", cache]
    if compress:
        args.append("-c")
    options: list[str] = []
    if compress and compression_type and dst_format == "qcow2":
        options.append(f"compression_type={compression_type}")
    if options:
        args += ["-o", ",".join(options)]
    if coroutines > 1:
        args += ["-m", str(min(coroutines, 16))]
    if out_of_order:
        args.append("-W")
    if target_is_zero:
        # Into the existing target, known to read as zeros (a new sparse file):
        # nothing is created, and zero areas of the source are not written.
        args += ["-n", "--target-is-zero"]
    args += [str(src), str(dst)]
    return args


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG(SIGKILL) in a forked child (the preexec path only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _limits(cpu_seconds: int, address_space: int, nice: int = 0) -> None:
    _die_with_parent()
    # Cinder QEMU_IMG_LIMITS: a crafted image must not make qemu-img eat the
    # host's CPU or memory.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    if nice:
        # Background priority: the service's event loop (the APIs) always wins
        # the CPU over a running conversion. Best-effort, never fatal.
        with contextlib.suppress(OSError):
            os.nice(nice)
        with contextlib.suppress(OSError):
            lower_io_priority()


@dataclass(frozen=True)
class QemuLimits:
    cpu_seconds: int = 600
    address_space: int = 1 << 30
    # Niceness added to qemu-img (0: same priority as the service).
    nice: int = BACKGROUND_NICE


def _wrapped(argv: Sequence[str], lim: QemuLimits) -> list[str] | None:
    """`argv` run under `prlimit` (and `nice`), as Cinder runs qemu-img under
    oslo.concurrency's prlimit wrapper; None where those tools are missing.

    Both exec the next command, so the process spawned is qemu-img itself
    (kill and exit codes work as without them), and the limits hold from its
    first instruction. Starting them needs no `preexec_fn`, so Python can
    vfork instead of copying the whole service process (milliseconds of the
    event loop's time per spawn, growing with its memory).
    """
    if _PRLIMIT is None or (lim.nice and _NICE is None):
        return None
    exe = shutil.which(argv[0])
    if exe is None:
        raise FileNotFoundError(argv[0])
    cmd: list[str] = []
    if _SETPRIV is not None:
        # Killed when the service dies, even by SIGKILL: nothing goes on writing
        # into a data directory that start-up recovery is about to clean up. The
        # death signal survives the execs of prlimit and nice (none is set-uid).
        cmd += [_SETPRIV, "--pdeathsig", "KILL", "--"]
    cmd += [_PRLIMIT, f"--cpu={lim.cpu_seconds}"]
    if lim.address_space:
        cmd.append(f"--as={lim.address_space}")
    cmd.append("--")
    if lim.nice:
        cmd += [str(_NICE), "-n", str(lim.nice)]
    return [*cmd, exe, *argv[1:]]


async def _spawn(
    argv: Sequence[str], limits: QemuLimits | None, pass_fds: Sequence[int] = ()
) -> asyncio.subprocess.Process:
    """Start qemu-img: no shell, LC_ALL=C, resource limits and lower priority.

    `pass_fds` stay open in qemu-img (as /proc/self/fd/N), so it reads the very
    file that was inspected, even if a path were swapped meanwhile."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    lim = limits or QemuLimits()
    common: dict[str, Any] = {
        "stdout": asyncio.subprocess.PIPE, "stderr": asyncio.subprocess.PIPE,
        "stdin": asyncio.subprocess.DEVNULL, "env": env, "pass_fds": tuple(pass_fds),
    }
    try:
        wrapped = _wrapped(argv, lim)
        if wrapped is None:  # no prlimit: the limits are set in the forked child
            return await asyncio.create_subprocess_exec(
                *argv, **common,
                preexec_fn=lambda: _limits(lim.cpu_seconds, lim.address_space, lim.nice),
            )
        proc = await asyncio.create_subprocess_exec(*wrapped, **common)
    except FileNotFoundError as exc:
        raise ConversionFailed("qemu-img is not installed (package qemu-utils)") from exc
    if lim.nice:
        lower_io_priority(proc.pid)  # best-effort, like the preexec path
    return proc


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(BaseException):
        await proc.wait()


# strerror texts of ENOSPC and EDQUOT as qemu-img prints them (LC_ALL=C).
_NO_SPACE_TEXTS = ("No space left on device", "Disk quota exceeded")


def _check_exit(proc: asyncio.subprocess.Process, command: str, err: bytes) -> None:
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip()[-500:]
        if any(text in tail for text in _NO_SPACE_TEXTS):
            # A full disk is not a broken conversion: the caller tells the user so.
            raise StorageFull(f"Image storage media is full: {tail}")
        raise ConversionFailed(f"qemu-img {command} failed (exit {proc.returncode}): {tail}")


async def run(
    args: Sequence[str],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 -- also bounds the kill-on-timeout path
    limits: QemuLimits | None = None,
    pass_fds: Sequence[int] = (),
) -> str:
    """Run qemu-img (no shell, LC_ALL=C); return stdout, raise ConversionFailed.

    The process is killed if the caller is cancelled or the timeout passes.
    """
    proc = await _spawn(args, limits, pass_fds)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        await _kill(proc)
        raise
    _check_exit(proc, args[1], err)
    return out.decode(errors="replace")


async def info(
    path: Path, fmt: str, *, limits: QemuLimits | None = None, pass_fds: Sequence[int] = ()
) -> ImageInfo:
    """`qemu-img info -f fmt` of a file; the format is never probed."""
    return parse_info(
        await run(info_args(path, fmt), timeout=120, limits=limits, pass_fds=pass_fds)
    )


def check_no_external_files(image: ImageInfo, *, what: str) -> None:
    """Refuse images that point at other files: qemu-img would read them."""
    if image.backing_file:
        raise ConversionFailed(
            f"{what} is unacceptable: fmt={image.format} backed by:{image.backing_file}"
        )
    if image.data_file:
        raise ConversionFailed(f"{what} is unacceptable: external data file {image.data_file}")


def check_source_info(
    image: ImageInfo, path: Path, *, image_id: str, vmdk_allowed_types: Sequence[str]
) -> None:
    """qemu-img's own view of a source the format inspector passed (Cinder's
    check_image_format): nothing read from another file, an allowed VMDK
    create type whose only extent is the file itself. ImageUnacceptable otherwise."""
    if image.backing_file:
        raise ImageUnacceptable(
            image_id, f"fmt={image.format} backed by:{image.backing_file}"
        )
    if image.data_file:
        raise ImageUnacceptable(image_id, "A qcow2 format image is not allowed to have a data file")
    if image.format == "vmdk":
        if image.create_type not in vmdk_allowed_types:
            raise ImageUnacceptable(image_id, "Invalid VMDK create-type specified")
        if image.extents != (str(path),):
            raise ImageUnacceptable(image_id, "A VMDK image must be a single sparse file")


# --- additions for the upload path -------------------------------------------

# ISO 9660: the primary volume descriptor sits in sector 16 (2048-byte
# sectors); its standard identifier "CD001" starts at byte 1 of the sector.
ISO_MAGIC_OFFSET = 16 * 2048 + 1
ISO_MAGIC = b"CD001"


def looks_like_iso(path: Path) -> bool:
    """True when `path` carries an ISO 9660 volume descriptor."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, len(ISO_MAGIC), ISO_MAGIC_OFFSET) == ISO_MAGIC
    finally:
        os.close(fd)


_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def parse_progress(text: bytes) -> float | None:
    """The last percentage in `qemu-img convert -p` output, or None."""
    found = _PROGRESS.findall(text)
    return float(found[-1]) if found else None


async def run_convert(
    args: Sequence[str],
    *,
    on_progress: Callable[[float], None] | None = None,
    limits: QemuLimits | None = None,
    pass_fds: Sequence[int] = (),
) -> None:
    """Run a `qemu-img convert` argv with `-p`, calling `on_progress(percent)` as it goes.

    Same guarantees as `run`: no shell, LC_ALL=C, resource limits, killed on
    cancel (wrap in `asyncio.timeout` for a deadline), ConversionFailed with the
    tail of stderr on failure.
    """
    argv = list(args)
    if "-p" not in argv:
        argv.insert(2, "-p")
    proc = await _spawn(argv, limits, pass_fds)

    async def _pump_stdout() -> None:
        assert proc.stdout is not None
        while True:
            data = await proc.stdout.read(4096)
            if not data:
                return
            pct = parse_progress(data)
            if pct is not None and on_progress is not None:
                on_progress(pct)

    async def _all() -> bytes:
        assert proc.stderr is not None
        err_task = asyncio.ensure_future(proc.stderr.read())
        await _pump_stdout()
        err = await err_task
        await proc.wait()
        return err

    try:
        err = await _all()
    except BaseException:
        await _kill(proc)
        raise
    _check_exit(proc, "convert", err)
