"""kill -9 of a real `python -m cinderlite serve` while volumes are created and deleted
against a quota of 5, then restart.

After each restart: the project never holds more than 5 volumes, the usage the
API reports is exactly what the rows hold, and once everything is deleted the
whole quota can be used again (nothing stays reserved by a request the crash cut).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cinderlite.db.models import Volume
from tests.integration.upload.test_crash_recovery import Service, _token

pytestmark = pytest.mark.integration
QUOTA = 5


async def _churn(c: httpx.AsyncClient, base: str) -> None:
    """Create and delete volumes until cancelled or the server dies."""
    with contextlib.suppress(httpx.HTTPError):
        while True:
            made = await asyncio.gather(*(
                c.post(f"{base}/volumes", json={"volume": {"size": 1}}) for _ in range(4)
            ))
            assert all(r.status_code in (202, 413) for r in made), [r.text for r in made]
            listed = await c.get(f"{base}/volumes/detail")
            for v in listed.json()["volumes"]:
                if v["status"] in ("available", "error"):
                    await c.delete(f"{base}/volumes/{v['id']}")


async def _usage(c: httpx.AsyncClient, base: str, project: str) -> dict:  # type: ignore[type-arg]
    r = await c.get(f"{base}/os-quota-sets/{project}?usage=true")
    assert r.status_code == 200, r.text
    return dict(r.json()["quota_set"])


async def test_kill_9_while_creating_and_deleting_keeps_usage_exact(
    tmp_path: Path, database_url: str
) -> None:
    rng = random.Random(os.environ.get("CRASH_SEED", "cinderlite-quotas"))
    svc = Service(tmp_path / "data", database_url)
    svc.env["CINDERLITE_QUOTA_VOLUMES"] = str(QUOTA)
    engine = create_async_engine(database_url)
    svc.start()
    try:
        token, project = await _token(svc)
        headers = {"X-Auth-Token": token}
        base = f"/v3/{project}"
        for _round in range(3):
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                churn = asyncio.create_task(_churn(c, base))
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                svc.kill9()
                with contextlib.suppress(Exception):
                    await churn
            svc.start()
            async with engine.connect() as conn:
                rows = (await conn.execute(
                    select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
                    .where(Volume.project_id == project))).one()
            assert rows[0] <= QUOTA
            async with httpx.AsyncClient(
                base_url=svc.url("volume"), headers=headers, timeout=30
            ) as c:
                usage = await _usage(c, base, project)
                assert usage["volumes"]["in_use"] == rows[0]
                assert usage["gigabytes"]["in_use"] == rows[1]
        # Everything deleted: the whole quota is free again.
        async with httpx.AsyncClient(base_url=svc.url("volume"), headers=headers, timeout=30) as c:
            for _ in range(100):
                listed = (await c.get(f"{base}/volumes/detail")).json()["volumes"]
                if not listed:
                    break
                for v in listed:
                    if v["status"] in ("available", "error"):
                        await c.delete(f"{base}/volumes/{v['id']}")
                await asyncio.sleep(0.2)
            assert (await _usage(c, base, project))["volumes"]["in_use"] == 0
            made = [await c.post(f"{base}/volumes", json={"volume": {"size": 1}})
                    for _ in range(QUOTA + 1)]
            assert [r.status_code for r in made] == [202] * QUOTA + [413]
    finally:
        svc.stop()
        await engine.dispose()
