"""The `openstack` client against a served cinderlite: token, volumes, images from files,
volumes from images, deletes.

The tests run in file order and share the module's volumes and image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    file_digest,
    make_qcow2,
    qemu_compare,
    run_cli,
    run_json,
    same_bytes,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def image_field(shown: dict[str, Any], key: str) -> Any:
    """OSC prints unknown image keys (os_hash_*) under `properties`."""
    if key in shown:
        return shown[key]
    return (shown.get("properties") or {}).get(key)


@pytest.fixture(scope="module")
def v1(server: LiveServer, demo_api: Api) -> Iterator[dict[str, Any]]:
    created = run_json(["openstack", "volume", "create", "--size", "1", "v1"], server.demo_env)
    assert created["name"] == "v1"
    assert created["size"] == 1
    assert created["status"] in {"creating", "available"}
    demo_api.wait_volume(created["id"], "available")
    yield created
    if demo_api.volume(created["id"]) is not None:
        run_cli(["openstack", "volume", "delete", created["id"]], server.demo_env, check=False)


@pytest.fixture(scope="module")
def made() -> dict[str, Any]:
    """Resources one test creates and a later one deletes, by name."""
    return {}


@pytest.fixture(scope="module")
def disk(server: LiveServer) -> tuple[Path, Path]:
    """(raw, qcow2): 8 MiB of guest data with random blocks, and its qcow2 form."""
    return make_qcow2(server.workdir, "disk")


@pytest.fixture(scope="module")
def img(server: LiveServer, demo_api: Api, disk: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    _, qcow2 = disk
    created = run_json(
        [
            "openstack",
            "image",
            "create",
            "--file",
            str(qcow2),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "img",
        ],
        server.demo_env,
    )
    yield created
    if demo_api.image(created["id"]) is not None:
        run_cli(["openstack", "image", "delete", created["id"]], server.demo_env, check=False)


def test_token_issue_returns_a_project_token(server: LiveServer, demo_api: Api) -> None:
    token = run_json(["openstack", "token", "issue"], server.demo_env)
    assert token["id"]
    assert token["project_id"] == demo_api.project_id
    assert token["expires"]


def test_volume_create_list_show(server: LiveServer, v1: dict[str, Any]) -> None:
    listed = run_json(["openstack", "volume", "list"], server.demo_env)
    rows = [row for row in listed if row["ID"] == v1["id"]]
    assert len(rows) == 1, listed
    assert rows[0]["Name"] == "v1"
    assert rows[0]["Size"] == 1
    assert rows[0]["Status"] == "available"

    shown = run_json(["openstack", "volume", "show", "v1"], server.demo_env)
    assert shown["id"] == v1["id"]
    assert shown["name"] == "v1"
    assert shown["size"] == 1
    assert shown["status"] == "available"
    # The volume is a sparse file of exactly 1 GiB.
    assert server.volume_file(v1["id"]).stat().st_size == 1 << 30


def test_image_create_from_file_has_the_file_checksums(
    server: LiveServer, disk: tuple[Path, Path], img: dict[str, Any]
) -> None:
    _, qcow2 = disk
    shown = run_json(["openstack", "image", "show", "img"], server.demo_env)
    assert shown["id"] == img["id"]
    assert shown["status"] == "active"
    assert shown["disk_format"] == "qcow2"
    assert shown["container_format"] == "bare"
    assert shown["size"] == qcow2.stat().st_size
    assert shown["checksum"] == file_digest(qcow2, "md5")
    assert image_field(shown, "os_hash_algo") == "sha512"
    assert image_field(shown, "os_hash_value") == file_digest(qcow2, "sha512")


def test_image_save_returns_the_uploaded_bytes(
    server: LiveServer, disk: tuple[Path, Path], img: dict[str, Any]
) -> None:
    _, qcow2 = disk
    out = server.workdir / "img.saved"
    run_cli(["openstack", "image", "save", "--file", str(out), "img"], server.demo_env)
    assert same_bytes(out, qcow2)


def test_volume_create_from_image_holds_the_image_data(
    server: LiveServer,
    demo_api: Api,
    disk: tuple[Path, Path],
    img: dict[str, Any],
    made: dict[str, Any],
) -> None:
    _, qcow2 = disk
    created = run_json(
        ["openstack", "volume", "create", "--image", "img", "--size", "1", "v2"], server.demo_env
    )
    made["v2"] = created
    assert created["name"] == "v2"
    vol = demo_api.wait_volume(created["id"], "available", timeout=90)
    assert vol["size"] == 1
    volume_file = server.volume_file(created["id"])
    assert volume_file.stat().st_size == 1 << 30
    # The volume is bigger than the image; compare checks the rest reads as zeros.
    qemu_compare(volume_file, qcow2, "qcow2")


def test_image_delete(server: LiveServer, img: dict[str, Any], demo_api: Api) -> None:
    run_cli(["openstack", "image", "delete", "img"], server.demo_env)
    assert demo_api.image(img["id"]) is None


def test_volume_delete_removes_both_volumes(
    server: LiveServer, demo_api: Api, v1: dict[str, Any], made: dict[str, Any]
) -> None:
    v2 = made["v2"]
    run_cli(["openstack", "volume", "delete", "v1", "v2"], server.demo_env)
    for vol in (v1, v2):
        demo_api.wait_volume_gone(vol["id"])
        wait_until(
            lambda vol=vol: not server.volume_file(vol["id"]).exists(),
            timeout=30,
            what=f"volume file of {vol['id']} to be removed",
        )
