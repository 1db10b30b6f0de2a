"""cinderlite joined to a real Keystone and Glance, driven by the real clients.

Tokens come from the real Keystone, the catalog is its (the clients find
cinderlite there), uploaded images land in the real Glance and are downloaded
from it to compare bytes, volumes are made from images held by Glance.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cloud.cloud import Cloud
from tests.cloud.conftest import TOKEN_CACHE_SECONDS, UNSERVED_PORTS
from tests.e2e.support import (
    Api,
    LiveServer,
    file_digests,
    make_qcow2,
    qemu_compare,
    run_cli,
    run_json,
    same_bytes,
    wait_until,
    write_at,
)

pytestmark = [pytest.mark.cloud]


@dataclass
class Source:
    id: str
    path: Path
    md5: str


@pytest.fixture(scope="module")
def src(joined: LiveServer, demo_api: Api) -> Iterator[Source]:
    """A 1 GiB volume (made with the openstack client) with random data in two places."""
    created = run_json(["openstack", "volume", "create", "--size", "1", "src"], joined.demo_env)
    demo_api.wait_volume(created["id"], "available")
    path = joined.volume_file(created["id"])
    write_at(path, 4 << 20, os.urandom(1 << 20))
    write_at(path, (1 << 30) - (64 << 10), os.urandom(64 << 10))
    yield Source(created["id"], path, file_digests(path, "md5")[0])
    run_cli(["openstack", "volume", "delete", created["id"]], joined.demo_env, check=False)


def _glance_image(cloud: Cloud, token: str, image_id: str) -> dict[str, object] | None:
    resp = httpx.get(f"{cloud.glance_url}/v2/images/{image_id}", trust_env=False, timeout=10,
                     headers={"X-Auth-Token": token})
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_upload_lands_in_glance(
    cloud: Cloud, joined: LiveServer, demo_api: Api, src: Source, tmp_path: Path
) -> None:
    """cinder upload-to-image (raw): the image is made in the real Glance, owned by the
    caller's project, active with the volume's bytes (downloaded with openstack)."""
    name = f"up-{uuid.uuid4().hex[:8]}"
    out = run_cli(["cinder", "upload-to-image", "--disk-format", "raw", src.id, name],
                  joined.demo_env).stdout
    image_id = next(line.split("|")[2].strip() for line in out.splitlines()
                    if line.startswith("|") and line.split("|")[1].strip() == "image_id")
    image = demo_api.wait_image(image_id, "active", timeout=180)
    assert image["owner"] == demo_api.project_id
    assert image["checksum"] == src.md5
    assert image["size"] == 1 << 30
    demo_api.wait_volume(src.id, "available")
    saved = tmp_path / "saved.raw"
    run_cli(["openstack", "image", "save", "--file", str(saved), image_id], joined.demo_env)
    assert same_bytes(saved, src.path)
    run_cli(["openstack", "image", "delete", image_id], joined.demo_env)


def test_qcow2_upload_with_openstack_client(
    cloud: Cloud, joined: LiveServer, demo_api: Api, src: Source, tmp_path: Path
) -> None:
    """openstack image create --volume, qcow2: converted as without a cloud, then in Glance."""
    name = f"q-{uuid.uuid4().hex[:8]}"
    made = run_json(["openstack", "image", "create", "--volume", src.id,
                     "--disk-format", "qcow2", name], joined.demo_env)
    image_id = made.get("image_id") or made["id"]
    image = demo_api.wait_image(image_id, "active", timeout=180)
    assert image["disk_format"] == "qcow2"
    demo_api.wait_volume(src.id, "available")
    saved = tmp_path / "saved.qcow2"
    run_cli(["openstack", "image", "save", "--file", str(saved), image_id], joined.demo_env)
    qemu_compare(src.path, saved, "qcow2")
    run_cli(["openstack", "image", "delete", image_id], joined.demo_env)


def test_volume_from_glance_image(joined: LiveServer, demo_api: Api, tmp_path: Path) -> None:
    """An image uploaded to the real Glance with the openstack client becomes a volume:
    read from Glance, inspected and converted as without a cloud."""
    raw, qcow2 = make_qcow2(tmp_path, "guest")
    made = run_json(["openstack", "image", "create", "--disk-format", "qcow2",
                     "--container-format", "bare", "--file", str(qcow2),
                     f"g-{uuid.uuid4().hex[:8]}"], joined.demo_env)
    demo_api.wait_image(made["id"], "active")
    out = run_cli(["cinder", "create", "--image", made["id"], "--name", "from-glance", "1"],
                  joined.demo_env).stdout
    volume_id = next(line.split("|")[2].strip() for line in out.splitlines()
                     if line.startswith("|") and line.split("|")[1].strip() == "id")
    volume = demo_api.wait_volume(volume_id, "available", timeout=120)
    assert volume["bootable"] == "true"
    data = joined.volume_file(volume_id)
    with open(data, "rb") as a, open(raw, "rb") as b:
        assert a.read(raw.stat().st_size) == b.read()
    run_cli(["openstack", "volume", "delete", volume_id], joined.demo_env)
    run_cli(["openstack", "image", "delete", made["id"]], joined.demo_env)


def test_image_glance_does_not_show_is_refused(joined: LiveServer, demo_api: Api) -> None:
    resp = httpx.post(
        f"{joined.volume_url}/v3/{demo_api.project_id}/volumes", headers=demo_api.headers,
        json={"volume": {"size": 1, "imageRef": str(uuid.uuid4())}}, trust_env=False,
        timeout=30,
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["message"] == "Invalid imageRef provided."


def test_failed_upload_deletes_its_glance_image(
    cloud: Cloud, joined: LiveServer, demo_api: Api, src: Source
) -> None:
    """/v2 accepts disk_format iso (202) and fails the upload when the volume holds no
    ISO 9660 image: the image it made in Glance is deleted, the volume available again."""
    resp = httpx.post(
        f"{joined.volume_url}/v2/{demo_api.project_id}/volumes/{src.id}/action",
        headers=demo_api.headers, trust_env=False, timeout=30,
        json={"os-volume_upload_image": {"image_name": "not-iso", "disk_format": "iso",
                                         "container_format": "bare", "force": False}},
    )
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    demo_api.wait_volume(src.id, "available")
    wait_until(lambda: _glance_image(cloud, demo_api.token, image_id) is None, timeout=30,
               what=f"image {image_id} deleted from Glance")
    # It was there: made before the 202, deleted by the failed upload.
    log = joined.log_path.read_text(errors="replace")
    assert f'POST {cloud.glance_url}/v2/images "HTTP/1.1 201' in log
    assert f'DELETE {cloud.glance_url}/v2/images/{image_id} "HTTP/1.1 204' in log


def test_revoked_token_is_refused(cloud: Cloud, joined: LiveServer, demo_api: Api) -> None:
    """A token Keystone revoked is refused (401) at the latest after the token cache time."""
    issued = run_json(["openstack", "token", "issue"], joined.demo_env)
    token, project = issued["id"], issued["project_id"]
    url = f"{joined.volume_url}/v3/{project}/volumes"

    def status() -> int:
        return httpx.get(url, headers={"X-Auth-Token": token}, trust_env=False,
                         timeout=10).status_code

    assert status() == 200
    run_cli(["openstack", "token", "revoke", token], joined.admin_env)
    revoked = time.monotonic()
    wait_until(lambda: status() == 401, timeout=TOKEN_CACHE_SECONDS + 10,
               what="the revoked token refused")
    assert time.monotonic() - revoked <= TOKEN_CACHE_SECONDS + 5
    # Unknown tokens never pass either.
    resp = httpx.get(url, headers={"X-Auth-Token": "not-a-token"}, trust_env=False, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.keystone_url}"'


def test_builtin_identity_and_image_apis_not_served(joined: LiveServer) -> None:
    """The clients found cinderlite through the real Keystone's catalog; the built-in
    identity and image APIs are not served."""
    for port in UNSERVED_PORTS:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", trust_env=False, timeout=5)
    catalog = run_json(["openstack", "catalog", "list"], joined.demo_env)
    assert {"identity", "image", "block-storage", "volumev3"} <= {e["Type"] for e in catalog}
