"""Expected refusals leave one INFO/WARNING line, never an ERROR or a traceback.

A traceback in the log means a bug; a client's bad request, a refused image,
a full disk or a disabled conversion is not one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil

import pytest

from cinderlite import app as app_module
from cinderlite.services.uploads import UploadRequest
from tests.integration.upload.conftest import MIB, make_volume
from tests.integration.upload.test_failures import _ended
from tests.integration.volume.test_image_safety import (
    descriptor,
    flat_descriptor,
    put_image,
    volume_from,
)
from tests.integration.volume.test_volumes import wait_status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing"),
]


def faults(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR or r.exc_info]


async def test_refusals_are_one_line_below_error(
    rt: app_module.Runtime, demo, volume_client, image_client, caplog, tmp_path, monkeypatch,
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    image_client.headers["Accept"] = "application/json"
    base = f"/v3/{demo.project_id}/volumes"
    # Bad requests of every kind.
    assert (await volume_client.post(base, json={"volume": {"size": "x"}},
                                     headers=demo.headers)).status_code == 400
    assert (await volume_client.get(f"{base}/nope", headers=demo.headers)).status_code == 404
    assert (await image_client.get("/v2/images?size_min=x",
                                   headers=demo.headers)).status_code == 400
    # A refused image (a VMDK descriptor naming a host file, in an ovf container).
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 65536)
    image_id = await put_image(image_client, demo, flat_descriptor(secret), disk_format="vmdk",
                               container_format="ovf")
    refused = await volume_from(volume_client, demo, image_id)
    await wait_status(volume_client, demo, refused, "error")
    # One the format inspector itself logs at ERROR (an extent path with a '/').
    sparse = descriptor("monolithicSparse", f'RW 128 FLAT "{secret}" 0')
    image_id = await put_image(image_client, demo, sparse, disk_format="vmdk",
                               container_format="ovf")
    refused = await volume_from(volume_client, demo, image_id)
    await wait_status(volume_client, demo, refused, "error")
    # An upload that fails after the 202 (conversion disabled).
    worker = rt.services.upload_worker
    monkeypatch.setattr(
        worker, "limits", dataclasses.replace(worker.limits, image_conversion_disable=True)
    )
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB,
                            data=[(0, os.urandom(MIB))])
    started = await rt.services.uploads.start(
        demo.caller, vid, UploadRequest(image_name="x", disk_format="vdi"),
        request_id="req-log",
    )
    assert (await _ended(rt, started.job_id)).state == "failed"
    # A volume whose file cannot be made.
    async def create(volume_id: str, size: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rt.volumes, "create", create)
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=demo.headers)
    await wait_status(volume_client, demo, resp.json()["volume"]["id"], "error")
    assert not faults(caplog), faults(caplog)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("is unacceptable" in m for m in said), said
    assert any("unsafe characters" in m for m in said), said
    assert any("could not create the data file" in m for m in said), said
    assert any("Image conversion is disabled" in m for m in said), said
