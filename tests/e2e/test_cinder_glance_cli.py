"""The `cinder` and `glance` clients against a served cinderlite."""

from __future__ import annotations

import os

import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    file_digest,
    list_rows,
    parse_table,
    run_cli,
    same_bytes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_cinder_create_list_show_delete(server: LiveServer, demo_api: Api) -> None:
    created = parse_table(
        run_cli(["cinder", "create", "--name", "c1", "1"], server.demo_env).stdout
    )
    volume_id = created["id"]
    assert created["name"] == "c1"
    assert created["size"] == "1"
    demo_api.wait_volume(volume_id, "available")

    rows = list_rows(run_cli(["cinder", "list"], server.demo_env).stdout)
    mine = [row for row in rows if row["ID"] == volume_id]
    assert len(mine) == 1, rows
    assert mine[0]["Name"] == "c1"
    assert mine[0]["Status"] == "available"
    assert mine[0]["Size"] == "1"

    shown = parse_table(run_cli(["cinder", "show", "c1"], server.demo_env).stdout)
    assert shown["id"] == volume_id
    assert shown["status"] == "available"
    assert shown["os-vol-tenant-attr:tenant_id"] == demo_api.project_id

    run_cli(["cinder", "delete", "c1"], server.demo_env)
    demo_api.wait_volume_gone(volume_id)
    assert not server.volume_file(volume_id).exists()


def test_glance_image_create_list_show_download_delete(server: LiveServer, demo_api: Api) -> None:
    data = server.workdir / "g1.raw"
    data.write_bytes(os.urandom(3 << 20) + bytes(1 << 20) + os.urandom(12345))
    created = parse_table(
        run_cli(
            [
                "glance",
                "image-create",
                "--name",
                "g1",
                "--disk-format",
                "raw",
                "--container-format",
                "bare",
                "--file",
                str(data),
            ],
            server.demo_env,
        ).stdout
    )
    image_id = created["id"]
    assert created["status"] == "active"
    assert created["checksum"] == file_digest(data, "md5")
    assert created["os_hash_algo"] == "sha512"
    assert created["os_hash_value"] == file_digest(data, "sha512")
    assert created["size"] == str(data.stat().st_size)

    rows = list_rows(run_cli(["glance", "image-list"], server.demo_env).stdout)
    assert {"ID": image_id, "Name": "g1"} in rows, rows

    shown = parse_table(run_cli(["glance", "image-show", image_id], server.demo_env).stdout)
    assert shown["name"] == "g1"
    assert shown["owner"] == demo_api.project_id
    assert shown["disk_format"] == "raw"

    out = server.workdir / "g1.out"
    run_cli(["glance", "image-download", "--file", str(out), image_id], server.demo_env)
    assert same_bytes(out, data)

    run_cli(["glance", "image-delete", image_id], server.demo_env)
    assert demo_api.image(image_id) is None
