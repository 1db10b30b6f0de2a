"""Attachments with the real clients against a served cinderlite: `cinder attachment-*`
at 3.44 and openstacksdk's attachment calls. The `local` connection they get back
names the volume's file: data written there by this process is read back by an
upload of the volume (forced while attached), which returns it to `in-use`."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    parse_table,
    run_cli,
    same_bytes,
)
from tests.e2e.test_sdk import connect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SERVER = "8d5b2f5e-6a51-4f0e-9b1c-2f6f3a0e9c11"


def _cinder(args: list[str], env: dict[str, str]) -> str:
    return run_cli(["cinder", "--os-volume-api-version", "3.44", *args], env).stdout


def test_cinder_attachment_lifecycle_and_upload_of_what_was_written(
    server: LiveServer, demo_api: Api
) -> None:
    env = server.demo_env
    out = run_cli(["cinder", "create", "--name", "attvol", "1"], env).stdout
    volume_id = parse_table(out)["id"]
    demo_api.wait_volume(volume_id, "available")

    out = _cinder(["attachment-create", volume_id, SERVER, "--connect", "True",
                   "--host", "e2e-host", "--ip", "127.0.0.1", "--mountpoint", "/dev/vdb"], env)
    shown = parse_table(out)
    attachment_id = shown["id"]
    # The connection (printed as a second table) names the volume's own file.
    assert shown["driver_volume_type"] == "local"
    device_path = shown["device_path"]
    assert device_path == str(server.volume_file(volume_id))
    assert demo_api.volume(volume_id)["status"] == "attaching"  # type: ignore[index]

    payload = os.urandom(1 << 20)
    fd = os.open(device_path, os.O_WRONLY)
    try:
        os.pwrite(fd, payload, 8 << 20)
        os.fsync(fd)
    finally:
        os.close(fd)

    _cinder(["attachment-complete", attachment_id], env)
    vol = demo_api.wait_volume(volume_id, "in-use")
    assert [a["attachment_id"] for a in vol["attachments"]] == [attachment_id]
    assert attachment_id in _cinder(["attachment-list"], env)
    assert parse_table(_cinder(["attachment-show", attachment_id], env))["status"] == "attached"

    # An upload of the attached volume needs force, and gives it back in-use.
    out = run_cli(["cinder", "--os-volume-api-version", "3.1", "upload-to-image", "--force",
                   "True", "--disk-format", "raw", volume_id, "attimg"], env).stdout
    image_id = parse_table(out)["image_id"]
    demo_api.wait_image(image_id)
    demo_api.wait_volume(volume_id, "in-use")
    downloaded = server.workdir / "attimg.raw"
    run_cli(["glance", "image-download", "--file", str(downloaded), image_id], env)
    with open(downloaded, "rb") as fh:
        fh.seek(8 << 20)
        assert fh.read(len(payload)) == payload
    assert same_bytes(downloaded, server.volume_file(volume_id))
    downloaded.unlink()

    _cinder(["attachment-delete", attachment_id], env)
    demo_api.wait_volume(volume_id, "available")
    run_cli(["glance", "image-delete", image_id], env)
    run_cli(["cinder", "delete", volume_id], env)
    demo_api.wait_volume_gone(volume_id)


def test_sdk_attachment_create_complete_delete(server: LiveServer) -> None:
    conn = connect(server, block_storage_api_version="3.44")
    try:
        bs = conn.block_storage
        volume = bs.create_volume(size=1, name="sdkatt")
        volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5,
                                    wait=60)
        attachment: Any = bs.create_attachment(
            volume, connector={"host": "sdk-host", "mountpoint": "/dev/vdc"},
            instance=SERVER,
        )
        info = attachment.connection_info
        assert info["driver_volume_type"] == "local"
        assert info["device_path"] == str(server.volume_file(volume.id))
        bs.complete_attachment(attachment)
        volume = bs.wait_for_status(volume, "in-use", failures=["error"], interval=0.5, wait=60)
        assert [a.id for a in bs.attachments()] == [attachment.id]
        bs.delete_attachment(attachment)
        volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5,
                                    wait=60)
        bs.delete_volume(volume)
        bs.wait_for_delete(volume, interval=0.5, wait=60)
    finally:
        conn.close()
