"""Which qemu-img processes count as left behind: parsing /proc, no processes started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cinderlite.datapath import orphans


def fake_proc(root: Path, pid: int, *, args: list[str], ppid: int, cwd: Path) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (d / "stat").write_text(f"{pid} (qemu img) S {ppid} 1 1 0 -1\n")
    os.symlink(cwd, d / "cwd")


def test_only_orphans_working_in_our_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    other = tmp_path / "other"
    convert = ["/usr/bin/qemu-img", "convert", "-f", "raw", "-O", "qcow2"]
    fake_proc(proc, 10, args=[*convert, "/v/volume-x", str(data / "images/.staging/a")],
              ppid=1, cwd=tmp_path)  # orphaned, ours: found
    fake_proc(proc, 11, args=[*convert, "/v/volume-y", "data/images/.staging/b"],
              ppid=1, cwd=tmp_path)  # relative to its cwd: found
    fake_proc(proc, 12, args=[*convert, "/v/volume-z", str(other / "c")],
              ppid=1, cwd=tmp_path)  # not our data dir
    fake_proc(proc, 13, args=[*convert, "/v/volume-w", str(data / "images/.staging/d")],
              ppid=20, cwd=tmp_path)  # a live service's conversion
    fake_proc(proc, 20, args=["python", "-m", "cinderlite", "serve"], ppid=1, cwd=tmp_path)
    fake_proc(proc, 14, args=["/bin/cp", str(data / "x"), "/tmp/y"], ppid=1, cwd=tmp_path)
    monkeypatch.setattr(orphans, "PROC", proc)
    assert sorted(orphans.find_orphaned_qemu_img(data)) == [10, 11]
