"""kill -9 of a real `python -m cinderlite serve` halfway through image imports.

A web-download from a slow loopback server and a glance-direct import of a
staged image are killed mid-way. After the restart no image stays
`importing`: the import jobs are taken up again (the dead process's leases are
released at start) and finish from the start, with the served bytes; no
partial staged or stored file is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cinderlite.db.models import Image, ImageTask, Job
from tests.integration.upload.test_crash_recovery import Service, _token
from tests.webserver import running

pytestmark = pytest.mark.integration
MiB = 1 << 20


async def _state(engine):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        images = {r.id: r.status for r in await conn.execute(select(Image.id, Image.status))}
        jobs = [r.state for r in await conn.execute(select(Job.state))]
        tasks = {r.image_id: r.status
                 for r in await conn.execute(select(ImageTask.image_id, ImageTask.status))}
    return images, jobs, tasks


async def test_kill_9_during_imports_leaves_no_image_importing(
    tmp_path: Path, database_url: str
) -> None:
    data = os.urandom(6 * MiB)
    with running() as web:
        # About 3 s to serve: the kill lands while the download runs.
        uri = web.serve("/slow.raw", data, delay=0.03)
        svc = Service(tmp_path / "data", database_url)
        svc.env.update(CINDERLITE_IMPORT_ALLOWED_HOSTS="127.0.0.1",
                       CINDERLITE_IMPORT_ALLOWED_PORTS=str(web.port))
        engine = create_async_engine(database_url)
        svc.start()
        try:
            token, _ = await _token(svc)
            headers = {"X-Auth-Token": token}
            async with httpx.AsyncClient(base_url=svc.url("image"), headers=headers,
                                         timeout=60) as c:
                ids = []
                for _ in range(2):
                    r = await c.post("/v2/images", json={"disk_format": "raw",
                                                          "container_format": "bare"})
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])
                downloaded, direct = ids
                staged = os.urandom(64 * MiB + 3)
                r = await c.put(f"/v2/images/{direct}/stage", content=staged,
                                headers={"Content-Type": "application/octet-stream"})
                assert r.status_code == 204, r.text
                r = await c.post(f"/v2/images/{downloaded}/import",
                                 json={"method": {"name": "web-download", "uri": uri}})
                assert r.status_code == 202, r.text
                r = await c.post(f"/v2/images/{direct}/import",
                                 json={"method": {"name": "glance-direct"}})
                assert r.status_code == 202, r.text
            for _ in range(300):
                if "/slow.raw" in web.hits:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            images, jobs, _ = await _state(engine)
            # The kill lands mid-import (else this test proves nothing).
            assert images[downloaded] == "importing", images
            assert "running" in jobs
            svc.kill9()
            svc.start()
            deadline = time.monotonic() + 120
            while True:
                images, jobs, tasks = await _state(engine)
                if all(images[i] != "importing" for i in ids) and not (
                        {"queued", "running"} & set(jobs)):
                    break
                assert time.monotonic() < deadline, (images, jobs)
                await asyncio.sleep(0.2)
            assert images == {downloaded: "active", direct: "active"}
            assert tasks == {downloaded: "success", direct: "success"}
            # The download was started again after the restart.
            assert web.hits.count("/slow.raw") == 2
            async with httpx.AsyncClient(base_url=svc.url("image"), headers=headers,
                                         timeout=60) as c:
                for image_id, expected in ((downloaded, data), (direct, staged)):
                    r = await c.get(f"/v2/images/{image_id}")
                    assert r.json()["checksum"] == hashlib.md5(expected).hexdigest()
                    r = await c.get(f"/v2/images/{image_id}/file")
                    assert r.content == expected
            staging = svc.data_dir / "staging"
            assert sorted(p.name for p in staging.rglob("*") if p.is_file()) == []
            assert sorted(p.name for p in (svc.data_dir / "images" / ".staging").iterdir()) == []
        finally:
            svc.stop()
            await engine.dispose()
