"""Image stores with the real glance client against a served cinderlite with two
stores, `fast` (the default) and `cheap`: `glance stores-info` (and `--detail`),
`glance image-upload --store`, `glance image-import --import-method copy-image
--stores`, `glance stores-delete`, a volume upload into the default store; bytes
compared with what was uploaded. The single-store server says it has no stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    parse_table,
    run_cli,
    same_bytes,
    wait_until,
    write_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _stores(api: Api, image_id: str) -> str | None:
    image = api.image(image_id)
    assert image is not None
    stores: str | None = image.get("stores")
    return stores


def test_stores_info(stores_server: LiveServer) -> None:
    out = run_cli(["glance", "stores-info"], stores_server.demo_env).stdout
    assert "fast" in out
    assert "cheap" in out
    assert "Fast store" in out
    detail = run_cli(["glance", "stores-info", "--detail"], stores_server.admin_env).stdout
    assert "data_dir" in detail
    assert "file" in detail
    refused = run_cli(["glance", "stores-info", "--detail"], stores_server.demo_env,
                      check=False)
    assert refused.returncode != 0
    assert "stores_info_detail" in refused.stderr + refused.stdout


def test_single_store_server_has_no_stores(server: LiveServer) -> None:
    refused = run_cli(["glance", "stores-info"], server.demo_env, check=False)
    assert refused.returncode != 0
    assert "Multi Backend support is not enabled" in refused.stderr + refused.stdout


def test_upload_copy_and_delete_from_a_store(stores_server: LiveServer, tmp_path: Path) -> None:
    demo, admin = stores_server.demo_env, stores_server.admin_env
    demo_api = Api.login(stores_server, stores_server.demo_openrc)
    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(3 << 20))
    out = run_cli(["glance", "image-create", "--disk-format", "raw", "--container-format",
                   "bare", "--name", "stores-e2e"], demo, tty_stdin=True).stdout
    image_id = parse_table(out)["id"]
    run_cli(["glance", "image-upload", "--store", "cheap", "--file", str(data), image_id], demo)
    demo_api.wait_image(image_id)
    assert _stores(demo_api, image_id) == "cheap"
    assert (stores_server.data_dir.parent / "cheap" / image_id).read_bytes() == data.read_bytes()

    # An unknown store is refused by the client (it reads stores-info) before any upload.
    other = parse_table(run_cli(["glance", "image-create", "--disk-format", "raw",
                                 "--container-format", "bare"], demo,
                                tty_stdin=True).stdout)["id"]
    refused = run_cli(["glance", "image-upload", "--store", "nowhere", "--file", str(data),
                       other], demo, check=False)
    assert refused.returncode != 0

    run_cli(["glance", "image-import", image_id, "--import-method", "copy-image",
             "--stores", "fast"], admin)
    wait_until(lambda: _stores(demo_api, image_id) == "fast,cheap"
               or _stores(demo_api, image_id) == "cheap,fast",
               timeout=60, what="the copy into fast")
    assert (stores_server.data_dir.parent / "fast" / image_id).read_bytes() == data.read_bytes()

    run_cli(["glance", "stores-delete", image_id, "--store", "cheap"], admin)
    assert _stores(demo_api, image_id) == "fast"
    assert not (stores_server.data_dir.parent / "cheap" / image_id).exists()
    # The last store is refused, as in Glance.
    refused = run_cli(["glance", "stores-delete", image_id, "--store", "fast"], admin,
                      check=False)
    assert refused.returncode != 0
    out_file = tmp_path / "back.raw"
    run_cli(["glance", "image-download", "--file", str(out_file), image_id], demo)
    assert same_bytes(out_file, data)


def test_volume_upload_goes_to_the_default_store(stores_server: LiveServer) -> None:
    demo = stores_server.demo_env
    demo_api = Api.login(stores_server, stores_server.demo_openrc)
    out = run_cli(["cinder", "create", "--name", "stores-src", "1"], demo).stdout
    volume_id = parse_table(out)["id"]
    demo_api.wait_volume(volume_id, "available")
    write_at(stores_server.volume_file(volume_id), 0, b"default store bytes")
    out = run_cli(["cinder", "upload-to-image", "--disk-format", "raw", volume_id,
                   "stores-from-volume"], demo).stdout
    image_id = parse_table(out)["image_id"]
    demo_api.wait_image(image_id)
    assert _stores(demo_api, image_id) == "fast"
    stored = stores_server.data_dir.parent / "fast" / image_id
    assert stored.read_bytes()[:19] == b"default store bytes"
    demo_api.wait_volume(volume_id, "available")
    run_cli(["cinder", "delete", volume_id], demo)
