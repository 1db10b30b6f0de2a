"""Owner-only modes for everything the service keeps on disk, whatever the umask.

Volumes and images are tenants' data, the SQLite database holds password
hashes and the openrc files passwords: files are 0600 and directories 0700.
New files are created with those modes; `tighten` repairs a data directory
made by an older version or under a looser umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) if needed; make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)


def tighten(root: Path) -> int:
    """Make every directory under `root` 0700 and every file 0600 (blocking; a thread).

    Returns how many modes changed. Symbolic links are left alone.
    """
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name, mode in [(d, DIR_MODE) for d in dirnames] + [(f, FILE_MODE) for f in filenames]:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
                continue
            os.chmod(path, mode)
            changed += 1
    if stat.S_IMODE(root.stat().st_mode) != DIR_MODE:
        os.chmod(root, DIR_MODE)
        changed += 1
    return changed


def tighten_files(path: Path | str, *suffixes: str) -> int:
    """Make `path` and `path + suffix` (those that exist) 0600; how many changed."""
    changed = 0
    for name in (str(path), *(f"{path}{suffix}" for suffix in suffixes)):
        try:
            if stat.S_IMODE(os.stat(name).st_mode) != FILE_MODE:
                os.chmod(name, FILE_MODE)
                changed += 1
        except FileNotFoundError:
            continue
    return changed
