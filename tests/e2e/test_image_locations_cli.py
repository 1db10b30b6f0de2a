"""Glance 2.17's location API with the real clients against a served cinderlite:
`glance add-location` (python-glanceclient sends it only when /versions lists
2.17) as a user with the `service` role, openstacksdk's add_image_location and
image_locations; the copied bytes compared with the source's, a host file
refused."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Api, LiveServer, client_env, parse_table, run_cli, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SERVICE_USER = "cinder-locations"
SERVICE_PASSWORD = "service-secret"


@pytest.fixture(scope="module")
def service_openrc(server: LiveServer) -> dict[str, str]:
    """A user with the `service` role (which an admin makes) in the demo project."""
    admin = server.admin_env
    roles = run_cli(["openstack", "role", "list", "-f", "value", "-c", "Name"], admin).stdout
    if "service" not in roles.split():
        run_cli(["openstack", "role", "create", "service"], admin)
    run_cli(["openstack", "user", "create", "--project", "demo", "--password",
             SERVICE_PASSWORD, SERVICE_USER], admin)
    run_cli(["openstack", "role", "add", "--user", SERVICE_USER, "--project", "demo",
             "service"], admin)
    return {**server.demo_openrc, "OS_USERNAME": SERVICE_USER, "OS_PASSWORD": SERVICE_PASSWORD}


@pytest.fixture(scope="module")
def service_env(server: LiveServer, service_openrc: dict[str, str]) -> dict[str, str]:
    return client_env(service_openrc, server.workdir)


def _create(env: dict[str, str], name: str) -> str:
    out = run_cli(["glance", "image-create", "--disk-format", "raw", "--container-format",
                   "bare", "--name", name], env, tty_stdin=True).stdout
    return parse_table(out)["id"]


def _source(server: LiveServer, tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    image_id = _create(server.demo_env, "location-source")
    run_cli(["glance", "image-upload", "--file", str(path), image_id], server.demo_env)
    Api.login(server, server.demo_openrc).wait_image(image_id)
    return image_id


def _url(server: LiveServer, image_id: str) -> str:
    return f"file://{server.data_dir / 'images' / image_id}"


def test_glance_add_location_copies_the_data(
    server: LiveServer, service_env: dict[str, str], tmp_path: Path
) -> None:
    data = os.urandom(3 << 20)
    source = _source(server, tmp_path, data)
    image_id = _create(server.demo_env, "from-a-location")
    sha256 = hashlib.sha256(data).hexdigest()
    validation = json.dumps({"os_hash_algo": "sha256", "os_hash_value": sha256})
    run_cli(["glance", "add-location", "--url", _url(server, source), "--validation-data",
             validation, image_id], service_env)
    demo = Api.login(server, server.demo_openrc)
    image = demo.wait_image(image_id)
    assert (image["os_hash_algo"], image["os_hash_value"]) == ("sha256", sha256)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    saved = tmp_path / "saved.raw"
    run_cli(["glance", "image-download", "--file", str(saved), image_id], server.demo_env)
    assert saved.read_bytes() == data

    # A member of the owner project (no service role) is refused, as Glance without
    # an http store refuses it; so is a URL naming a host file.
    other = _create(server.demo_env, "refused")
    refused = run_cli(["glance", "add-location", "--url", _url(server, source), other],
                      server.demo_env, check=False)
    assert refused.returncode != 0
    assert "http store must be enabled" in refused.stdout + refused.stderr
    refused = run_cli(["glance", "add-location", "--url", "file:///etc/passwd", other],
                      service_env, check=False)
    assert refused.returncode != 0
    assert "Invalid location" in refused.stdout + refused.stderr
    assert demo.image(other)["status"] == "queued"  # type: ignore[index]


def _connect(server: LiveServer, rc: dict[str, str]) -> Any:
    import openstack

    return openstack.connect(
        load_yaml_config=False, load_envvars=False, auth_type="password",
        auth={"auth_url": rc["OS_AUTH_URL"], "username": rc["OS_USERNAME"],
              "password": rc["OS_PASSWORD"], "project_name": rc["OS_PROJECT_NAME"],
              "user_domain_name": rc["OS_USER_DOMAIN_NAME"],
              "project_domain_name": rc["OS_PROJECT_DOMAIN_NAME"]},
        region_name=rc["OS_REGION_NAME"], interface=rc["OS_INTERFACE"],
        identity_api_version="3",
    )


@pytest.fixture(scope="module")
def service_conn(server: LiveServer, service_openrc: dict[str, str]) -> Iterator[Any]:
    connection = _connect(server, service_openrc)
    yield connection
    connection.close()


def test_openstacksdk_adds_and_lists_locations(
    server: LiveServer, service_conn: Any, tmp_path: Path
) -> None:
    data = os.urandom(1 << 20)
    source = _source(server, tmp_path, data)
    locations = list(service_conn.image.image_locations(source))
    assert [(loc.url, loc.metadata) for loc in locations] == [(_url(server, source), {})]
    image_id = _create(server.demo_env, "sdk-location")
    service_conn.image.add_image_location(image_id, _url(server, source))
    demo = Api.login(server, server.demo_openrc)
    wait_until(lambda: demo.image(image_id)["status"] == "active",  # type: ignore[index]
               timeout=60, what="the image made from a location")
    assert service_conn.image.get_image(image_id).checksum == hashlib.md5(data).hexdigest()
    assert [loc.url for loc in service_conn.image.image_locations(image_id)] == [
        _url(server, image_id)]
