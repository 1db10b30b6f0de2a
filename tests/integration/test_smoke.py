"""The runtime starts on a fresh database and each API answers in its own fault format."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_unknown_route_gets_a_request_id(volume_client: httpx.AsyncClient) -> None:
    resp = await volume_client.get("/no/such/route")
    assert resp.status_code == 404
    assert resp.headers["x-openstack-request-id"].startswith("req-")


async def test_bootstrap_created_admin_and_demo(admin, demo) -> None:  # type: ignore[no-untyped-def]
    assert "admin" in admin.caller.roles
    assert demo.caller.roles == frozenset({"member", "reader"})
    assert admin.project_id != demo.project_id
