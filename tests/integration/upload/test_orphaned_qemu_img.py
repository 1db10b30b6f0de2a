"""qemu-img never outlives the service: it dies with it (kill -9 included), and a
survivor of an older run is ended by start-up recovery. Real processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cinderlite.datapath.orphans import find_orphaned_qemu_img
from tests.integration.upload.conftest import MIB
from tests.integration.upload.test_crash_recovery import Service, _token

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing"),
]
TRIALS = 3


def qemu_img_pids(data_dir: Path) -> list[int]:
    """Every qemu-img process (orphaned or not) whose arguments name a file under data_dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"qemu-img") and any(
            str(data_dir).encode() in a for a in args
        ):
            found.append(int(entry.name))
    return found


def wait_until(probe, timeout: float) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    return probe()


def start_detached(command: str) -> None:
    subprocess.run(["sh", "-c", f"{command} >/dev/null 2>&1 &"], check=True)


def fill_random(path: Path, mib: int) -> None:
    with open(path, "r+b") as fh:
        for i in range(mib):
            fh.seek(i * 4 * MIB)
            fh.write(os.urandom(MIB))


async def test_qemu_img_dies_with_a_killed_service(tmp_path: Path, database_url: str) -> None:
    svc = Service(tmp_path / "data", database_url)
    data_dir = (tmp_path / "data").resolve()
    svc.start()
    try:
        for trial in range(TRIALS):
            token, project = await _token(svc)
            headers = {"X-Auth-Token": token}
            async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers,
                                         timeout=30) as c:
                r = await c.post(f"/v3/{project}/volumes", json={"volume": {"size": 1}})
                vid = r.json()["volume"]["id"]
                for _ in range(200):
                    shown = await c.get(f"/v3/{project}/volumes/{vid}")
                    if shown.json()["volume"]["status"] == "available":
                        break
                    await asyncio.sleep(0.05)
                # 192 MiB of random data: compressing it keeps qemu-img busy for seconds.
                await asyncio.to_thread(fill_random, data_dir / "volumes" / f"volume-{vid}", 192)
                r = await c.post(f"/v3/{project}/volumes/{vid}/action", json={
                    "os-volume_upload_image": {"image_name": f"t{trial}", "disk_format": "qcow2"}})
                assert r.status_code == 202, r.text
            running = await asyncio.to_thread(wait_until, lambda: qemu_img_pids(data_dir), 30)
            assert running, "the upload never started qemu-img"
            svc.kill9()
            left = await asyncio.to_thread(
                wait_until, lambda: not qemu_img_pids(data_dir), 2.0
            )
            assert left, f"trial {trial}: qemu-img {qemu_img_pids(data_dir)} outlived kill -9"
            svc.start()
    finally:
        svc.stop()


async def test_start_up_ends_a_qemu_img_left_by_an_older_run(
    tmp_path: Path, database_url: str,
) -> None:
    data_dir = (tmp_path / "data").resolve()
    staging = data_dir / "images" / ".staging"
    staging.mkdir(parents=True)
    source = tmp_path / "big.raw"
    with source.open("wb") as fh:
        fh.write(os.urandom(64 * MIB))
    # A conversion rate-limited to 1 MiB/s, started through a shell that exits at
    # once: re-parented, as one from a dead service is, and busy for a minute.
    start_detached(f"qemu-img convert -r 1M -f raw -O qcow2 {source} {staging}/dead-run.tmp")
    survivor = wait_until(lambda: qemu_img_pids(data_dir), 10)
    assert survivor
    assert find_orphaned_qemu_img(data_dir) == survivor
    svc = Service(tmp_path / "data", database_url)
    svc.start()
    try:
        gone = await asyncio.to_thread(wait_until, lambda: not qemu_img_pids(data_dir), 10)
        assert gone, qemu_img_pids(data_dir)
        assert not list(staging.iterdir())
    finally:
        svc.stop()
