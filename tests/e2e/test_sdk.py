"""An openstacksdk script against a served cinderlite: create a
volume, upload it to an image, wait for the image, download it with the SDK's own
checksum check, delete both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import LiveServer, same_bytes, write_at

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def connect(server: LiveServer, **options: Any) -> Any:
    import openstack

    rc = server.demo_openrc
    # Only these arguments: no clouds.yaml and no OS_* variables of whoever runs the tests.
    return openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="password",
        auth={
            "auth_url": rc["OS_AUTH_URL"],
            "username": rc["OS_USERNAME"],
            "password": rc["OS_PASSWORD"],
            "project_name": rc["OS_PROJECT_NAME"],
            "user_domain_name": rc["OS_USER_DOMAIN_NAME"],
            "project_domain_name": rc["OS_PROJECT_DOMAIN_NAME"],
        },
        region_name=rc["OS_REGION_NAME"],
        interface=rc["OS_INTERFACE"],
        identity_api_version="3",
        **options,
    )


@pytest.fixture(scope="module")
def conn(server: LiveServer) -> Iterator[Any]:
    connection = connect(server)
    yield connection
    connection.close()


def test_sdk_discovers_the_v2_volume_api(server: LiveServer) -> None:
    """The catalog lists volumev2; version discovery must find v2 behind it."""
    connection = connect(server, block_storage_api_version="2")
    try:
        bs = connection.block_storage
        volume = bs.create_volume(size=1, name="sdkv2")
        assert bs.get_endpoint().rstrip("/").split("/")[-2] == "v2"
        volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5,
                                    wait=60)
        assert volume.id in [v.id for v in bs.volumes()]
        bs.delete_volume(volume)
        bs.wait_for_delete(volume, interval=0.5, wait=60)
    finally:
        connection.close()


def test_sdk_create_upload_download_delete(server: LiveServer, conn: Any) -> None:
    bs, images = conn.block_storage, conn.image

    volume = bs.create_volume(size=1, name="sdkvol")
    volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=60)
    assert volume.size == 1
    assert volume.name == "sdkvol"
    path = server.volume_file(volume.id)
    write_at(path, 1 << 20, os.urandom(256 << 10))
    write_at(path, 700 << 20, os.urandom(1 << 20))

    started = bs.upload_volume_to_image(
        volume,
        "sdkimg",
        disk_format="raw",
        container_format="bare",
        visibility="private",
        protected=False,
    )
    assert isinstance(started, dict)
    assert started["image_name"] == "sdkimg"
    assert started["visibility"] == "private"
    assert started["protected"] is False

    image = images.get_image(started["image_id"])
    image = images.wait_for_status(
        image, "active", failures=["killed", "error"], interval=0.5, wait=180
    )
    assert image.name == "sdkimg"
    assert image.visibility == "private"
    assert image.size == 1 << 30
    assert image.hash_algo == "sha512"

    out = server.workdir / "sdkimg.raw"
    # With metadata hashes present the SDK verifies os_hash_value while it writes.
    images.download_image(image, stream=True, output=str(out))
    assert same_bytes(out, path)
    out.unlink()

    volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=60)
    bs.delete_volume(volume)
    bs.wait_for_delete(volume, interval=0.5, wait=60)
    assert bs.find_volume(volume.id, ignore_missing=True) is None
    assert not path.exists()

    images.delete_image(image)
    assert images.find_image(image.id, ignore_missing=True) is None
