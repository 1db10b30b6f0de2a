"""Uploading a volume to an image with the real clients and
with the /v2 contract's own example request (docs/api-v2.md).

One source volume with random data written into its file is uploaded again and
again; each test waits until the volume is `available` again and deletes its image.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    file_digest,
    file_digests,
    parse_table,
    qemu_compare,
    run_cli,
    run_json,
    same_bytes,
    wait_until,
    write_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# The response keys of the seed's execution example, exactly.
SEED_KEYS = {
    "status",
    "image_id",
    "image_name",
    "volume_type",
    "container_format",
    "size",
    "disk_format",
    "id",
    "display_description",
    "updated_at",
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Source:
    id: str
    path: Path
    md5: str
    sha512: str


@pytest.fixture(scope="module")
def src_volume(server: LiveServer, demo_api: Api) -> Iterator[Source]:
    """A 1 GiB volume with random data at 4 MiB and in its last 64 KiB."""
    created = run_json(["openstack", "volume", "create", "--size", "1", "src"], server.demo_env)
    demo_api.wait_volume(created["id"], "available")
    path = server.volume_file(created["id"])
    write_at(path, 4 << 20, os.urandom(1 << 20))
    write_at(path, (1 << 30) - (64 << 10), os.urandom(64 << 10))
    yield Source(created["id"], path, *file_digests(path, "md5", "sha512"))
    run_cli(["openstack", "volume", "delete", created["id"]], server.demo_env, check=False)


@pytest.fixture
def src(src_volume: Source, demo_api: Api) -> Source:
    """The source volume once it is `available`, whatever an earlier test left running."""
    demo_api.wait_volume(src_volume.id, "available", timeout=120)
    return src_volume


def finish_and_fetch(
    server: LiveServer, api: Api, src: Source, image_id: str, *, disk_format: str
) -> tuple[dict[str, Any], Path]:
    """Wait for the image to be active and the volume available; download the image."""
    image = api.wait_image(image_id, "active", timeout=180)
    api.wait_volume(src.id, "available", timeout=60)
    assert image["disk_format"] == disk_format, image
    assert image["container_format"] == "bare", image
    out = server.workdir / f"{image_id}.download"
    # `image save` goes through openstacksdk, which checks os_hash_value/checksum.
    run_cli(["openstack", "image", "save", "--file", str(out), image_id], server.demo_env)
    assert out.stat().st_size == image["size"], image
    return image, out


def delete_image(server: LiveServer, api: Api, image_id: str, download: Path | None) -> None:
    run_cli(["openstack", "image", "delete", image_id], server.demo_env)
    assert api.image(image_id) is None
    if download is not None:
        download.unlink(missing_ok=True)


def test_openstack_image_create_from_volume(server: LiveServer, demo_api: Api, src: Source) -> None:
    started = run_json(["openstack", "image", "create", "--volume", "src", "up1"], server.demo_env)
    assert started["id"] == src.id
    assert started["image_name"] == "up1"
    assert started["disk_format"] == "raw"
    assert started["container_format"] == "bare"
    assert started["status"] == "uploading"
    assert started["visibility"] == "private"
    assert started["protected"] is False
    assert UUID_RE.match(started["image_id"]), started

    image, out = finish_and_fetch(server, demo_api, src, started["image_id"], disk_format="raw")
    assert image["name"] == "up1"
    assert image["visibility"] == "private"
    assert image["checksum"] == src.md5
    assert same_bytes(out, src.path)
    delete_image(server, demo_api, image["id"], out)


def test_cinder_upload_to_image_at_3_0(server: LiveServer, demo_api: Api, src: Source) -> None:
    out = run_cli(
        ["cinder", "--os-volume-api-version", "3.0", "upload-to-image", "src", "up2"],
        server.demo_env,
    ).stdout
    started = parse_table(out)
    assert started["id"] == src.id, out
    assert started["image_name"] == "up2", out
    assert started["status"] == "uploading", out
    # At 3.0 Cinder sends Glance no visibility, so Glance's default applies; the
    # reply still echoes the image's protected/visibility (Cinder's volume_actions.py).
    assert started["visibility"] == "shared", out
    assert started["protected"] == "False", out

    image = demo_api.wait_image(started["image_id"], "active", timeout=180)
    demo_api.wait_volume(src.id, "available")
    assert image["name"] == "up2"
    assert image["disk_format"] == "raw"
    assert image["visibility"] == "shared"
    # A raw image is the volume's bytes: the whole-content checksums match. (The
    # first test already downloads a raw upload; 1 GiB once is enough.)
    assert image["size"] == src.path.stat().st_size
    assert image["checksum"] == src.md5
    assert image["os_hash_value"] == src.sha512
    delete_image(server, demo_api, image["id"], None)


def test_cinder_upload_to_image_at_3_1_private_qcow2(
    server: LiveServer, demo_api: Api, src: Source
) -> None:
    out = run_cli(
        [
            "cinder",
            "--os-volume-api-version",
            "3.1",
            "upload-to-image",
            "--visibility",
            "private",
            "--disk-format",
            "qcow2",
            "src",
            "up3",
        ],
        server.demo_env,
    ).stdout
    started = parse_table(out)
    assert started["image_name"] == "up3", out
    assert started["disk_format"] == "qcow2", out
    assert started["visibility"] == "private", out

    image, download = finish_and_fetch(
        server, demo_api, src, started["image_id"], disk_format="qcow2"
    )
    assert image["visibility"] == "private"
    assert image["owner"] == demo_api.project_id
    assert image["checksum"] == file_digest(download, "md5")
    qemu_compare(src.path, download, "qcow2")
    delete_image(server, demo_api, image["id"], download)


@pytest.mark.parametrize(
    ("disk_format", "qemu_format"),
    [("vmdk", "vmdk"), ("vdi", "vdi"), ("vhd", "vpc"), ("vhdx", "vhdx")],
)
def test_openstack_upload_converts_to(
    server: LiveServer, demo_api: Api, src: Source, disk_format: str, qemu_format: str
) -> None:
    name = f"up-{disk_format}"
    started = run_json(
        ["openstack", "image", "create", "--volume", "src", "--disk-format", disk_format, name],
        server.demo_env,
    )
    assert started["disk_format"] == disk_format

    image, download = finish_and_fetch(
        server, demo_api, src, started["image_id"], disk_format=disk_format
    )
    assert image["name"] == name
    assert image["checksum"] == file_digest(download, "md5")
    qemu_compare(src.path, download, qemu_format)
    delete_image(server, demo_api, image["id"], download)


def test_seed_execution_example_on_v2(server: LiveServer, demo_api: Api, src: Source) -> None:
    # The request of the seed's execution example, byte for byte apart from the ids.
    body = (
        '{"os-volume_upload_image": {"container_format": "bare", "force": false, '
        '"image_name": "testupdateimage", "disk_format": "raw"}}'
    )
    resp = httpx.post(
        f"{server.volume_url}/v2/{demo_api.project_id}/volumes/{src.id}/action",
        content=body.encode(),
        headers={
            "X-Auth-Project-Id": "demo",
            "Accept-Encoding": "gzip, deflate, compress",
            "Accept": "application/json",
            "User-Agent": "python-cinderclient",
            "X-Auth-Token": demo_api.token,
            "Content-Type": "application/json",
        },
        timeout=30,
        trust_env=False,
    )
    assert resp.status_code == 202, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    started = json.loads(resp.content)["os-volume_upload_image"]
    assert set(started) == SEED_KEYS, started
    assert started["status"] == "uploading"
    assert started["image_name"] == "testupdateimage"
    assert started["container_format"] == "bare"
    assert started["disk_format"] == "raw"
    assert started["size"] == 1
    assert started["id"] == src.id
    assert started["display_description"] is None
    assert started["volume_type"] is None or isinstance(started["volume_type"], str)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$", started["updated_at"]), started
    assert UUID_RE.match(started["image_id"]), started

    image = demo_api.wait_image(started["image_id"], "active", timeout=180)
    demo_api.wait_volume(src.id, "available")
    assert image["name"] == "testupdateimage"
    assert image["size"] == src.path.stat().st_size
    assert image["checksum"] == src.md5
    assert image["os_hash_value"] == src.sha512
    delete_image(server, demo_api, image["id"], None)


def test_seed_error_example_other_tenant_is_malformed_url(
    server: LiveServer, demo_api: Api, src: Source
) -> None:
    # The seed's error execution example: a tenant in the URL that is not the token's.
    other_tenant = uuid.uuid4().hex
    resp = httpx.post(
        f"{server.volume_url}/v2/{other_tenant}/volumes/{src.id}/action",
        json={
            "os-volume_upload_image": {
                "container_format": "bare",
                "force": False,
                "image_name": "testupdateimage",
                "disk_format": "raw",
            }
        },
        headers={"X-Auth-Token": demo_api.token, "Accept": "application/json"},
        timeout=30,
        trust_env=False,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"badRequest": {"message": "Malformed request url", "code": 400}}
    assert demo_api.volume(src.id)["status"] == "available"  # type: ignore[index]


def test_logins_succeed_while_an_upload_runs(
    server: LiveServer, demo_api: Api, src: Source
) -> None:
    # Writes by the upload (job claim, progress, statuses) must not make other
    # writing requests fail: a password login stores a token.
    resp = httpx.post(
        f"{server.volume_url}/v3/{demo_api.project_id}/volumes/{src.id}/action",
        json={"os-volume_upload_image": {"image_name": "busy", "disk_format": "raw"}},
        headers={**demo_api.headers, "OpenStack-API-Version": "volume 3.1"},
        timeout=30,
        trust_env=False,
    )
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]

    def active_after_login() -> dict[str, Any] | None:
        Api.login(server, server.demo_openrc)
        image = demo_api.image(image_id)
        assert image is not None, "image vanished: the upload failed"
        return image if image["status"] == "active" else None

    wait_until(active_after_login, timeout=180, what="image 'busy' active", interval=0.05)
    demo_api.wait_volume(src.id, "available")
    delete_image(server, demo_api, image_id, None)
