"""User messages (3.3+) and upload progress over HTTP."""

from __future__ import annotations

import os

import httpx
import pytest

from cinderlite import app as app_module
from cinderlite.services.uploads import UploadRequest
from tests.conftest import wait_for
from tests.integration.upload.conftest import MIB, job_row, make_volume

pytestmark = pytest.mark.integration

V33 = {"OpenStack-API-Version": "volume 3.3"}
MESSAGE_KEYS = {
    "id",
    "event_id",
    "user_message",
    "message_level",
    "resource_type",
    "resource_uuid",
    "created_at",
    "guaranteed_until",
    "request_id",
    "links",
}


async def _failed_upload(rt, who):  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=who.project_id, file_bytes=MIB, data=[(0, b"x")])
    started = await rt.services.uploads.start(who.caller,
        vid,
        UploadRequest(image_name="i", disk_format="iso"),
        request_id="req-11111111-2222-3333-4444-555555555555",
    )

    async def ended():  # type: ignore[no-untyped-def]
        return (await job_row(rt, started.job_id)).state == "failed"

    await wait_for(ended)
    return vid


async def test_failed_upload_message_is_listed_shown_and_deleted(
    rt: app_module.Runtime, demo, admin, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await _failed_upload(rt, demo)
    base = f"/v3/{demo.project_id}/messages"
    resp = await volume_client.get(base, headers={**demo.headers, **V33})
    assert resp.status_code == 200, resp.text
    [msg] = resp.json()["messages"]
    assert set(msg) == MESSAGE_KEYS
    assert msg["resource_uuid"] == vid
    assert msg["resource_type"] == "VOLUME"
    assert msg["message_level"] == "ERROR"
    assert msg["event_id"] == "VOLUME_VOLUME_003_900"
    assert msg["user_message"].startswith("copy volume to image:")
    assert "ISO 9660" in msg["user_message"]
    assert msg["request_id"] == "req-11111111-2222-3333-4444-555555555555"
    assert {link["rel"] for link in msg["links"]} == {"self", "bookmark"}

    resp = await volume_client.get(f"{base}/{msg['id']}", headers={**demo.headers, **V33})
    assert resp.status_code == 200
    assert resp.json()["message"] == msg
    # Another project's user does not see it.
    resp = await volume_client.get(
        f"/v3/{admin.project_id}/messages/{msg['id']}", headers={**admin.headers, **V33}
    )
    assert resp.status_code == 200  # admin sees every project's messages, as in Cinder
    resp = await volume_client.delete(f"{base}/{msg['id']}", headers={**demo.headers, **V33})
    assert resp.status_code == 204
    resp = await volume_client.get(f"{base}/{msg['id']}", headers={**demo.headers, **V33})
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == f"Message {msg['id']} could not be found."


async def test_messages_need_microversion_3_3(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/messages", headers=demo.headers)
    assert resp.status_code == 404
    resp = await volume_client.get(
        f"/v3/{demo.project_id}/messages",
        headers={**demo.headers, "OpenStack-API-Version": "volume 3.2"},
    )
    assert resp.status_code == 404


async def test_generic_failure_message_text(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(rt.images, "staging_dir", tmp_path / "missing")
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"x")])
    started = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="i"), request_id=None
    )

    async def ended():  # type: ignore[no-untyped-def]
        return (await job_row(rt, started.job_id)).state == "failed"

    await wait_for(ended)
    resp = await volume_client.get(
        f"/v3/{demo.project_id}/messages", headers={**demo.headers, **V33}
    )
    [msg] = resp.json()["messages"]
    assert (
        msg["user_message"] == "copy volume to image:Failed to upload volume to image at backend."
    )
    assert msg["event_id"] == "VOLUME_VOLUME_003_004"


async def test_upload_progress_while_queued_running_and_after(
    rt: app_module.Runtime, demo, volume_client: httpx.AsyncClient
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(
        rt,
        project_id=demo.project_id,
        size_gib=2,
        data=[(i * 64 * MIB, os.urandom(MIB)) for i in range(32)],
    )
    url = f"/v3/{demo.project_id}/volumes/{vid}/upload-progress"
    resp = await volume_client.get(url, headers=demo.headers)
    assert resp.status_code == 404
    await rt.jobs.stop()  # hold the job in the queue
    started = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="p"), request_id=None
    )
    resp = await volume_client.get(url, headers=demo.headers)
    assert resp.status_code == 200, resp.text
    queued = resp.json()["upload_progress"]
    assert queued["status"] == "queued"
    assert queued["bytes_done"] == 0
    assert queued["bytes_total"] == 2 << 30
    assert queued["image_id"] == started.image.id
    await rt.jobs.start()

    async def moving():  # type: ignore[no-untyped-def]
        r = await volume_client.get(url, headers=demo.headers)
        body = r.json().get("upload_progress") if r.status_code == 200 else None
        return body if body and body["bytes_done"] > 0 and body["status"] == "running" else None

    running = await wait_for(moving, 60, 0.02)
    assert set(running) == {
        "volume_id",
        "image_id",
        "status",
        "bytes_done",
        "bytes_total",
        "percent",
        "elapsed_seconds",
        "estimated_seconds_remaining",
    }
    # One decimal: the first bytes of a 2 GiB copy can still show 0.0 %.
    assert running["percent"] == round(100.0 * running["bytes_done"] / (2 << 30), 1)
    assert 0 <= running["percent"] <= 100

    async def finished():  # type: ignore[no-untyped-def]
        return (await job_row(rt, started.job_id)).state == "done"

    await wait_for(finished, 120)
    resp = await volume_client.get(url, headers=demo.headers)
    assert resp.status_code == 404
