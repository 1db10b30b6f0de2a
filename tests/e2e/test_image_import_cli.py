"""Interoperable image import with the real clients against a served cinderlite:
`glance import-info`, `glance image-create-via-import` with glance-direct (a file)
and web-download (a URL of a loopback server the tests start), `openstack image
create --import`, `glance task-list` / `task-show` / `image-tasks`; the bytes are downloaded
again and compared with the source."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.e2e.support import Api, LiveServer, list_rows, parse_table, run_cli, run_json
from tests.webserver import WebServer

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
MiB = 1 << 20


def _download(env: dict[str, str], image_id: str, path: Path) -> bytes:
    run_cli(["glance", "image-download", "--file", str(path), image_id], env)
    return path.read_bytes()


def test_import_info_names_the_methods(server: LiveServer) -> None:
    info = parse_table(run_cli(["glance", "import-info"], server.demo_env).stdout)
    assert "glance-direct" in info["import-methods"]
    assert "web-download" in info["import-methods"]


def test_glance_direct_with_glance_image_create_via_import(
    server: LiveServer, demo_api: Api,
) -> None:
    data = os.urandom(3 * MiB + 11)
    source = server.workdir / "direct.raw"
    source.write_bytes(data)
    out = run_cli(["glance", "image-create-via-import", "--name", "via-direct",
                   "--disk-format", "raw", "--container-format", "bare",
                   "--import-method", "glance-direct", "--file", str(source)],
                  server.demo_env, tty_stdin=True).stdout
    image_id = parse_table(out)["id"]
    image = demo_api.wait_image(image_id)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert _download(server.demo_env, image_id, server.workdir / "direct.out") == data


def test_web_download_with_glance_image_create_via_import(
    server: LiveServer, demo_api: Api, web: WebServer,
) -> None:
    data = os.urandom(2 * MiB + 7)
    uri = web.serve("/e2e/web.raw", data)
    out = run_cli(["glance", "image-create-via-import", "--name", "via-web",
                   "--disk-format", "raw", "--container-format", "bare",
                   "--import-method", "web-download", "--uri", uri],
                  server.demo_env, tty_stdin=True).stdout
    image_id = parse_table(out)["id"]
    image = demo_api.wait_image(image_id)
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert _download(server.demo_env, image_id, server.workdir / "web.out") == data

    # The import left a task; admins read it with the tasks API.
    rows = list_rows(run_cli(["glance", "task-list"], server.admin_env).stdout)
    task_ids = [r["ID"] for r in rows]
    assert task_ids
    shown = [parse_table(run_cli(["glance", "task-show", t], server.admin_env).stdout)
             for t in task_ids]
    mine = [t for t in shown if t.get("image_id") == image_id]
    assert len(mine) == 1
    assert mine[0]["status"] == "success"
    assert mine[0]["type"] == "api_image_import"
    # The image's own tasks (2.12, listed on a one-store site too), to its owner.
    rows = list_rows(run_cli(["glance", "image-tasks", image_id], server.demo_env).stdout)
    assert [r["Status"] for r in rows] == ["success"]


def test_web_download_of_a_refused_url_fails_with_the_filter_message(
    server: LiveServer, demo_api: Api,
) -> None:
    result = run_cli(["glance", "image-create-via-import", "--name", "refused",
                      "--disk-format", "raw", "--container-format", "bare",
                      "--import-method", "web-download", "--uri", "http://127.0.0.1:1/x"],
                     server.demo_env, check=False, tty_stdin=True)
    assert result.returncode != 0
    assert "does not pass filtering" in result.stdout + result.stderr


def test_openstack_image_create_with_import(server: LiveServer, demo_api: Api) -> None:
    data = os.urandom(MiB + 3)
    source = server.workdir / "osc.raw"
    source.write_bytes(data)
    image = run_json(["openstack", "image", "create", "--import", "--disk-format", "raw",
                      "--container-format", "bare", "--file", str(source), "osc-import"],
                     server.demo_env)
    image = demo_api.wait_image(image["id"])
    assert image["size"] == len(data)
    assert _download(server.demo_env, image["id"], server.workdir / "osc.out") == data
