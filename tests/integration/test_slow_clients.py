"""Slow or lying clients over a real socket: a 408 in the API's format and a closed
connection once a deadline passes, never a connection held for ever; a slow but
steady upload is not cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cinderlite import app as app_module
from cinderlite.api.faults import cinder_fault, glance_error, keystone_error
from cinderlite.api.protocol import TIMEOUT_MESSAGE
from tests.conftest import make_settings, wait_for
from tests.e2e.support import free_port

pytestmark = pytest.mark.integration

DEADLINE = 1.0


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url, request_header_timeout_seconds=DEADLINE,
                         request_body_idle_timeout_seconds=DEADLINE)


@contextlib.asynccontextmanager
async def serving(rt: app_module.Runtime, api: str) -> AsyncIterator[int]:
    make, timeout = {
        "identity": (app_module.create_identity_app, keystone_error(408, TIMEOUT_MESSAGE)),
        "volume": (app_module.create_volume_app, cinder_fault(408, TIMEOUT_MESSAGE)),
        "image": (app_module.create_image_app, glance_error(408, TIMEOUT_MESSAGE)),
    }[api]
    port = free_port()
    server = app_module._Server(make(rt), rt.settings, port, timeout)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.server.started)

    await wait_for(started, timeout=10)
    try:
        yield port
    finally:
        server.stop()
        await task


async def exchange(port: int, data: bytes, *, wait: float = 10.0) -> tuple[bytes, float]:
    """Send `data`, then read until the server closes; (everything read, seconds it took)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(data)
    await writer.drain()
    try:
        received = await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()
    return received, time.monotonic() - started


def answer(raw: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("api", ["identity", "volume", "image"])
async def test_headers_that_never_end_get_a_408(rt, api: str) -> None:  # type: ignore[no-untyped-def]
    async with serving(rt, api) as port:
        received, took = await exchange(port, b"GET /v3 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        status, body = answer(received)
        assert status == 408
        assert TIMEOUT_MESSAGE in json.dumps(body)
        assert took < DEADLINE + 3
        # A connection that never sends anything is closed too.
        received, took = await exchange(port, b"")
        assert answer(received)[0] == 408
        assert took < DEADLINE + 3


async def test_a_body_shorter_than_its_content_length_gets_a_408(rt, demo) -> None:  # type: ignore[no-untyped-def]
    async with serving(rt, "volume") as port:
        request = (
            f"POST /v3/{demo.project_id}/volumes HTTP/1.1\r\nHost: x\r\n"
            f"X-Auth-Token: {demo.token}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{\"volume\":"
        ).encode()
        received, took = await exchange(port, request)
        status, body = answer(received)
        assert status == 408
        assert body["requestTimeout"]["message"] == TIMEOUT_MESSAGE
        assert took < DEADLINE + 3


async def test_a_stalled_image_upload_is_cut_and_the_image_queued_again(
    rt, demo, image_client,
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", headers=demo.headers, json={
        "name": "slow", "disk_format": "raw", "container_format": "bare"})
    image_id = resp.json()["id"]
    async with serving(rt, "image") as port:
        request = (
            f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            f"X-Auth-Token: {demo.token}\r\nContent-Type: application/octet-stream\r\n"
            f"Accept: application/json\r\nContent-Length: {10 << 20}\r\n\r\n"
        ).encode() + os.urandom(1 << 20)
        received, took = await exchange(port, request)
        assert answer(received)[0] == 408
        assert took < DEADLINE + 5

    async def queued() -> bool:
        shown = await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)
        return shown.json()["status"] == "queued"

    await wait_for(queued, timeout=10)
    staging = Path(rt.settings.images_dir) / ".staging"
    assert not any(staging.iterdir())


async def test_a_slow_but_steady_upload_is_not_cut(rt, demo, image_client) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", headers=demo.headers, json={
        "name": "steady", "disk_format": "raw", "container_format": "bare"})
    image_id = resp.json()["id"]
    pieces = [os.urandom(4096) for _ in range(8)]
    async with serving(rt, "image") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((
            f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            f"X-Auth-Token: {demo.token}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {sum(map(len, pieces))}\r\nConnection: close\r\n\r\n"
        ).encode())
        for piece in pieces:  # 8 x 0.4 s: longer in all than the deadline, never idle that long
            await asyncio.sleep(DEADLINE * 0.4)
            writer.write(piece)
            await writer.drain()
        received = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert received.split()[1] == b"204", received[:200]
