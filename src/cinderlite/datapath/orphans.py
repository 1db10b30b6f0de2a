"""qemu-img processes that outlived the service that started them.

qemu-img is started to die with the service (qemu.py: PR_SET_PDEATHSIG), but a
process started by an older version, or where setpriv is missing, survives a
SIGKILL of the service and goes on writing into the data directory that
start-up recovery is about to clean. `kill_orphaned_qemu_img` finds them in
/proc: a qemu-img whose arguments name a file under the data directory and
whose parent is no longer a cinderlite process (it was re-parented to init or
a subreaper). A qemu-img of another live cinderlite process sharing the data
directory is left alone.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


def _cmdline(pid: str) -> list[str]:
    try:
        raw = (PROC / pid / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: str) -> str | None:
    try:
        stat = (PROC / pid / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...; comm may hold spaces and parentheses.
    return stat.rpartition(")")[2].split()[1]


def _names_data(pid: str, args: list[str], data_dir: Path) -> bool:
    try:
        cwd = Path(os.readlink(PROC / pid / "cwd"))
    except OSError:
        return False
    for arg in args:
        if arg.startswith("-"):
            continue
        path = Path(os.path.normpath(cwd / arg))
        if path == data_dir or data_dir in path.parents:
            return True
    return False


def find_orphaned_qemu_img(data_dir: Path) -> list[int]:
    """Pids of qemu-img processes working in `data_dir` for a cinderlite that is gone."""
    data_dir = Path(os.path.normpath(data_dir.resolve()))
    found: list[int] = []
    for entry in PROC.iterdir():
        pid = entry.name
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        args = _cmdline(pid)
        if not args or Path(args[0]).name != "qemu-img":
            continue
        if not _names_data(pid, args[1:], data_dir):
            continue
        parent = _parent(pid)
        if parent == str(os.getpid()) or (parent not in (None, "1") and any(
            "cinderlite" in part for part in _cmdline(parent)
        )):
            continue  # a live service's own conversion
        found.append(int(pid))
    return found


def kill_orphaned_qemu_img(data_dir: Path) -> list[int]:
    """SIGKILL what `find_orphaned_qemu_img` finds (blocking; a thread); their pids."""
    killed: list[int] = []
    for pid in find_orphaned_qemu_img(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(pid)
    if killed:
        log.warning("killed %d qemu-img process(es) left by a previous run: %s", len(killed),
                    killed)
    return killed
