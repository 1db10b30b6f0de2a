"""kill -9 of a real `python -m cinderlite serve` during uploads, then restart.

After each restart: no volume stays `uploading`, no image from those uploads
stays queued/saving, no scratch file is left, and the volume data is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cinderlite.db.models import Image, Job, Volume
from tests.integration.upload.conftest import MIB

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.ports = {"identity": free_port(), "volume": free_port(), "image": free_port()}
        self.env = dict(
            os.environ,
            CINDERLITE_DATA_DIR=str(data_dir),
            CINDERLITE_DATABASE_URL=database_url,
            CINDERLITE_IDENTITY_PORT=str(self.ports["identity"]),
            CINDERLITE_VOLUME_PORT=str(self.ports["volume"]),
            CINDERLITE_IMAGE_PORT=str(self.ports["image"]),
            CINDERLITE_ADMIN_PASSWORD="admin-secret",
            CINDERLITE_DEMO_PASSWORD="demo-secret",
            CINDERLITE_UPLOAD_WORKERS="2",
            CINDERLITE_JOB_LEASE_SECONDS="5",
            CINDERLITE_LOG_LEVEL="WARNING",
            # The crash tests make more volumes, snapshots and backups in one project
            # than Cinder's default quotas allow; a test of quotas sets its own.
            CINDERLITE_QUOTA_VOLUMES="-1",
            CINDERLITE_QUOTA_SNAPSHOTS="-1",
            CINDERLITE_QUOTA_BACKUPS="-1",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "serve.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cinderlite", "serve"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", self.ports["volume"]), 0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("service did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


async def _token(svc: Service) -> tuple[str, str]:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"id": "default"},
                        "password": "admin-secret",
                    }
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{svc.url('identity')}/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


async def _state(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        volumes = {r.id: r.status for r in await conn.execute(select(Volume.id, Volume.status))}
        images = {r.id: r.status for r in await conn.execute(select(Image.id, Image.status))}
        jobs = [(r.state, r.image_id) for r in await conn.execute(select(Job.state, Job.image_id))]
    return volumes, images, jobs


def _fill(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(96 * MIB)
        for k in range(0, 96, 16):
            fh.seek(k * MIB)
            fh.write(os.urandom(MIB))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_kill_9_during_uploads_leaves_nothing_stuck(
    tmp_path: Path, database_url: str
) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED", "cinderlite"))
    svc = Service(tmp_path / "data", database_url)
    engine = create_async_engine(database_url)
    svc.start()
    try:
        token, project = await _token(svc)
        headers = {"X-Auth-Token": token}
        async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers, timeout=30) as c:
            vids = []
            for i in range(3):
                r = await c.post(
                    f"/v3/{project}/volumes", json={"volume": {"size": 1, "name": f"c{i}"}}
                )
                assert r.status_code == 202, r.text
                vids.append(r.json()["volume"]["id"])
            for _ in range(200):
                volumes, _, _ = await _state(engine)
                if all(volumes.get(v) == "available" for v in vids):
                    break
                await asyncio.sleep(0.1)
        # Test shortcut (as the benchmark does): write the bytes straight into the
        # sparse backing files, kept at 96 MiB so each upload takes about a second.
        digests = {}
        for v in vids:
            path = svc.data_dir / "volumes" / f"volume-{v}"
            _fill(path)
            digests[v] = _sha(path)

        formats = ["raw", "qcow2", "vmdk", "raw"]
        uploaded: set[str] = set()
        interrupted = 0
        for round_no in range(4):
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                for i, v in enumerate(vids):
                    r = await c.post(
                        f"/v3/{project}/volumes/{v}/action",
                        json={
                            "os-volume_upload_image": {
                                "image_name": f"r{round_no}-{i}",
                                "disk_format": formats[(round_no + i) % len(formats)],
                            }
                        },
                    )
                    assert r.status_code == 202, r.text
                    uploaded.add(r.json()["os-volume_upload_image"]["image_id"])
            # Kill at a random moment while work is in flight: first wait until a job
            # runs (on a quiet machine a 96 MiB upload takes a fraction of a second,
            # so a blind sleep can miss every upload), then a random delay.
            for _ in range(300):
                _, _, jobs = await _state(engine)
                if any(state == "running" for state, _ in jobs):
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0.0, 0.25))
            _, _, jobs = await _state(engine)
            interrupted += sum(state in ("queued", "running") for state, _ in jobs)
            svc.kill9()
            svc.start()  # recovery runs, then re-claimed jobs start over or roll back
            deadline = time.monotonic() + 180
            while True:
                volumes, images, jobs = await _state(engine)
                if not any(state in ("queued", "running") for state, _ in jobs):
                    break
                assert time.monotonic() < deadline, jobs
                await asyncio.sleep(0.2)
            volumes, images, jobs = await _state(engine)
            assert not [v for v, s in volumes.items() if s == "uploading"], volumes
            stuck = {i: s for i, s in images.items() if i in uploaded and s in ("queued", "saving")}
            assert not stuck, stuck
            staging = svc.data_dir / "images" / ".staging"
            assert sorted(p.name for p in staging.iterdir()) == []
            for i, s in images.items():
                if s == "active":
                    assert (svc.data_dir / "images" / i).exists()
            for v in vids:
                assert _sha(svc.data_dir / "volumes" / f"volume-{v}") == digests[v]
        # The random points did hit uploads in flight (else this test proves nothing).
        assert interrupted > 0
    finally:
        svc.stop()
        await engine.dispose()
