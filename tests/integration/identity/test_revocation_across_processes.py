"""A revocation made by another process reaches the serving process at once.

`cinderlite user-password` runs in its own process against the same data
directory and database; the served APIs cache validated tokens for seconds,
and must still refuse the revoked token on the very next request.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.upload.test_crash_recovery import REPO, Service, _token

pytestmark = pytest.mark.integration


def run_cli(svc: Service, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "cinderlite", *args], env=svc.env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


async def test_a_password_changed_by_the_cli_revokes_at_once(
    tmp_path: Path, database_url: str,
) -> None:
    svc = Service(tmp_path / "data", database_url)
    svc.start()
    try:
        token, project = await _token(svc)
        async with httpx.AsyncClient(base_url=svc.url("volume"), timeout=30) as volumes, \
                httpx.AsyncClient(base_url=svc.url("image"), timeout=30) as images:
            for _ in range(3):  # cached now
                assert (await volumes.get(f"/v3/{project}/volumes",
                                          headers={"X-Auth-Token": token})).status_code == 200
                assert (await images.get("/v2/images",
                                         headers={"X-Auth-Token": token})).status_code == 200
            run_cli(svc, "user-password", "admin", "--password", "another-secret")
            resp = await volumes.get(f"/v3/{project}/volumes", headers={"X-Auth-Token": token})
            assert resp.status_code == 401, resp.text
            resp = await images.get("/v2/images", headers={"X-Auth-Token": token})
            assert resp.status_code == 401, resp.text
    finally:
        svc.stop()
