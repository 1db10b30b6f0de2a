"""Microversions above 3.44 with the real `cinder` client against a served cinderlite:
`cinder --os-volume-api-version 3.68 reimage` rewrites a volume from an image
(bytes checked on disk), `cinder --os-volume-api-version 3.45 list --with-count`
prints the count, a 3.66 `snapshot-create` of an attached volume needs no force.

Each test runs once the served maximum (GET / on the volume port) reaches its
version; below it the client could not ask for it."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import Api, LiveServer, run_cli, run_json, write_at
from tests.e2e.test_snapshots_cli import wait_snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

MiB = 1 << 20


def _served_max(server: LiveServer) -> tuple[int, int]:
    resp = httpx.get(f"{server.volume_url}/", timeout=10, trust_env=False)
    (v3,) = [v for v in resp.json()["versions"] if v["id"] == "v3.0"]
    major, minor = v3["version"].split(".")
    return int(major), int(minor)


def _needs(server: LiveServer, minor: int) -> None:
    if _served_max(server) < (3, minor):
        pytest.skip(f"the served maximum is below 3.{minor}")


def test_cinder_reimage_rewrites_the_volume(
    server: LiveServer, demo_api: Api, tmp_path: Path
) -> None:
    _needs(server, 68)
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "1", "reimaged"], env)
    demo_api.wait_volume(vol["id"], "available")
    path = server.volume_file(vol["id"])
    write_at(path, 0, b"\xff" * (8 * MiB))
    write_at(path, 600 * MiB, b"\xee" * MiB)
    raw = tmp_path / "img.raw"
    raw.write_bytes(os.urandom(3 * MiB))
    img = run_json(["openstack", "image", "create", "--file", str(raw), "--disk-format", "raw",
                    "--container-format", "bare", "--property", "os_distro=cirros",
                    "reimage-src"], env)
    demo_api.wait_image(img["id"])
    run_cli(["cinder", "--os-volume-api-version", "3.68", "reimage", vol["id"], img["id"]], env)
    demo_api.wait_volume(vol["id"], "available")
    with path.open("rb") as f:
        assert f.read(3 * MiB) == raw.read_bytes()
        assert f.read(5 * MiB) == bytes(5 * MiB)  # the old bytes past the image are gone
        f.seek(600 * MiB)
        assert f.read(MiB) == bytes(MiB)
    assert path.stat().st_size == 1 << 30
    shown = run_json(["openstack", "volume", "show", vol["id"]], env)
    assert str(shown["bootable"]).lower() == "true"  # openstack prints a boolean
    assert shown["volume_image_metadata"]["image_id"] == img["id"]
    assert shown["volume_image_metadata"]["os_distro"] == "cirros"
    # The bytes read back through an upload are the image's, zero-padded.
    up = run_json(["openstack", "image", "create", "--volume", vol["id"], "--disk-format",
                   "raw", "--container-format", "bare", "reimage-back"], env)
    back = up.get("image_id") or up.get("id")
    demo_api.wait_image(back)
    got = hashlib.sha256()
    with httpx.stream("GET", f"{server.image_url}/v2/images/{back}/file",
                      headers=demo_api.headers, timeout=120, trust_env=False) as data:
        assert data.status_code == 200
        for chunk in data.iter_bytes(4 * MiB):
            got.update(chunk)
    expected = hashlib.sha256(raw.read_bytes())
    zeros = bytes(MiB)
    for _ in range(1024 - 3):
        expected.update(zeros)
    assert got.hexdigest() == expected.hexdigest()
    # Below 3.68 the client itself refuses the command.
    old = run_cli(["cinder", "--os-volume-api-version", "3.67", "reimage", vol["id"],
                   img["id"]], env, check=False)
    assert old.returncode != 0


def test_cinder_list_with_count_and_in_use_snapshot(server: LiveServer, demo_api: Api) -> None:
    _needs(server, 66)
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "1", "counted"], env)
    demo_api.wait_volume(vol["id"], "available")
    listed = run_json(["openstack", "volume", "list"], env)
    out = run_cli(["cinder", "--os-volume-api-version", "3.45", "list", "--with-count"],
                  env).stdout
    assert f"Volume in total: {len(listed)}" in out
    # No compute service here: the attachment is recorded through the API.
    resp = httpx.post(
        f"{server.volume_url}/v3/{demo_api.project_id}/volumes/{vol['id']}/action",
        json={"os-attach": {"instance_uuid": "5b1e0f3c-0000-4000-8000-000000000e2e",
                            "mountpoint": "/dev/vdb"}},
        headers=demo_api.headers, timeout=10, trust_env=False,
    )
    assert resp.status_code == 202, resp.text
    demo_api.wait_volume(vol["id"], "in-use")
    refused = run_cli(["cinder", "--os-volume-api-version", "3.65", "snapshot-create",
                       vol["id"]], env, check=False)
    assert refused.returncode != 0
    made = run_cli(["cinder", "--os-volume-api-version", "3.66", "snapshot-create", "--name",
                    "live", vol["id"]], env)
    assert "live" in made.stdout
    # The e2e server is shared by the session: leave the demo project as found.
    snap = run_json(["openstack", "volume", "snapshot", "show", "live"], env)
    wait_snapshot(demo_api, snap["id"], "available")
    run_cli(["openstack", "volume", "snapshot", "delete", snap["id"]], env)
    wait_snapshot(demo_api, snap["id"], "gone")
    resp = httpx.post(
        f"{server.volume_url}/v3/{demo_api.project_id}/volumes/{vol['id']}/action",
        json={"os-detach": {}}, headers=demo_api.headers, timeout=10, trust_env=False,
    )
    assert resp.status_code == 202, resp.text
    demo_api.wait_volume(vol["id"], "available")
    run_cli(["openstack", "volume", "delete", vol["id"]], env)
