"""Image sharing with the real clients against a served cinderlite: demo makes a
shareable image from a volume (`cinder --os-volume-api-version 3.1 upload-to-image
--visibility shared`) or from a file (`openstack image set --shared`), shares it
(`openstack image add project`, `glance member-create`), the member project accepts
it (`openstack image set --accept`, `glance member-update`) and makes a volume from
it, whose bytes are checked against the source."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    client_env,
    list_rows,
    parse_table,
    run_cli,
    run_json,
    same_bytes,
    write_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def member(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str],
                                                                                    Api]:
    """A member of a project of its own, made with the admin's `openstack` commands."""
    admin = server.admin_env
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"share-{suffix}", f"share-{suffix}", "share-secret"
    run_cli(["openstack", "project", "create", "--domain", "Default", project], admin)
    run_cli(["openstack", "user", "create", "--domain", "Default", "--project", project,
             "--password", password, user], admin)
    run_cli(["openstack", "role", "add", "--project", project, "--user", user, "member"], admin)
    openrc = {**server.demo_openrc, "OS_USERNAME": user, "OS_PASSWORD": password,
              "OS_PROJECT_NAME": project}
    home = tmp_path_factory.mktemp("member-home")
    return client_env(openrc, Path(home)), Api.login(server, openrc)


def _image_ids(env: dict[str, str]) -> set[str]:
    return {row["ID"] for row in list_rows(run_cli(["openstack", "image", "list"], env).stdout)}


def test_share_a_volume_image_with_openstack_and_make_a_volume_from_it(
    server: LiveServer, demo_api: Api, member: tuple[dict[str, str], Api],
) -> None:
    member_env, member_api = member
    demo = server.demo_env
    src = run_json(["openstack", "volume", "create", "--size", "1", "share-src"], demo)
    demo_api.wait_volume(src["id"], "available")
    src_path = server.volume_file(src["id"])
    write_at(src_path, 0, os.urandom(1 << 20))
    write_at(src_path, (1 << 30) - (64 << 10), os.urandom(64 << 10))

    out = run_cli(["cinder", "--os-volume-api-version", "3.1", "upload-to-image",
                   "--visibility", "shared", "--disk-format", "raw", src["id"],
                   "shared-from-volume"], demo).stdout
    image_id = parse_table(out)["image_id"]
    image = demo_api.wait_image(image_id)
    assert image["visibility"] == "shared"
    demo_api.wait_volume(src["id"], "available")
    assert image_id not in _image_ids(member_env)

    run_cli(["openstack", "image", "add", "project", image_id, member_api.project_id], demo)
    rows = list_rows(run_cli(["openstack", "image", "member", "list", image_id], demo).stdout)
    assert [(r["Member ID"], r["Status"]) for r in rows] == [(member_api.project_id, "pending")]
    assert image_id not in _image_ids(member_env)

    # The owner cannot accept for the member.
    refused = run_cli(["openstack", "image", "set", "--accept", "--project",
                       member_api.project_id, image_id], demo, check=False)
    assert refused.returncode != 0
    run_cli(["openstack", "image", "set", "--accept", image_id], member_env)
    assert image_id in _image_ids(member_env)
    rows = list_rows(run_cli(["openstack", "image", "member", "list", image_id], demo).stdout)
    assert [(r["Member ID"], r["Status"]) for r in rows] == [(member_api.project_id, "accepted")]

    vol = run_json(["openstack", "volume", "create", "--image", image_id, "--size", "1",
                    "from-shared"], member_env)
    member_api.wait_volume(vol["id"], "available", timeout=120)
    assert same_bytes(src_path, server.volume_file(vol["id"]))

    run_cli(["openstack", "volume", "delete", vol["id"]], member_env)
    run_cli(["openstack", "image", "delete", image_id], demo)
    run_cli(["openstack", "volume", "delete", src["id"]], demo)


def test_share_a_file_image_with_glance(
    server: LiveServer, demo_api: Api, member: tuple[dict[str, str], Api], tmp_path: Path,
) -> None:
    member_env, member_api = member
    demo = server.demo_env
    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(3 << 20))
    created = run_json(["openstack", "image", "create", "--private", "--disk-format", "raw",
                        "--container-format", "bare", "--file", str(data), "glance-shared"],
                       demo)
    image_id = created["id"]
    demo_api.wait_image(image_id)
    refused = run_cli(["glance", "member-create", image_id, member_api.project_id], demo,
                      check=False)
    assert refused.returncode != 0
    assert "Not allowed to create members for image" in refused.stdout + refused.stderr
    run_cli(["openstack", "image", "set", "--shared", image_id], demo)

    out = run_cli(["glance", "member-create", image_id, member_api.project_id], demo).stdout
    assert "pending" in out
    out = run_cli(["glance", "member-update", image_id, member_api.project_id, "accepted"],
                  member_env).stdout
    assert "accepted" in out
    rows = list_rows(run_cli(["glance", "member-list", "--image-id", image_id], demo).stdout)
    assert [(r["Member ID"], r["Status"]) for r in rows] == [(member_api.project_id, "accepted")]
    assert image_id in _image_ids(member_env)

    out_file = tmp_path / "member-copy.raw"
    run_cli(["glance", "image-download", "--file", str(out_file), image_id], member_env)
    assert out_file.read_bytes() == data.read_bytes()

    vol = run_json(["openstack", "volume", "create", "--image", image_id, "--size", "1",
                    "from-glance-shared"], member_env)
    member_api.wait_volume(vol["id"], "available", timeout=120)
    with server.volume_file(vol["id"]).open("rb") as fh:
        assert fh.read(3 << 20) == data.read_bytes()

    run_cli(["glance", "member-delete", image_id, member_api.project_id], demo)
    assert image_id not in _image_ids(member_env)
    run_cli(["openstack", "volume", "delete", vol["id"]], member_env)
    run_cli(["openstack", "image", "delete", image_id], demo)


def test_deactivate_and_reactivate_with_the_clients(
    server: LiveServer, demo_api: Api, tmp_path: Path,
) -> None:
    demo = server.demo_env
    data = tmp_path / "d.raw"
    data.write_bytes(os.urandom(1 << 20))
    image_id = run_json(["openstack", "image", "create", "--disk-format", "raw",
                         "--container-format", "bare", "--file", str(data), "to-deactivate"],
                        demo)["id"]
    demo_api.wait_image(image_id)
    run_cli(["openstack", "image", "set", "--deactivate", image_id], demo)
    assert demo_api.wait_image(image_id, "deactivated")["status"] == "deactivated"
    refused = run_cli(["glance", "image-download", "--file", str(tmp_path / "out"), image_id],
                      demo, check=False)
    assert refused.returncode != 0
    assert "deactivated" in refused.stdout + refused.stderr
    refused = run_cli(["openstack", "volume", "create", "--image", image_id, "--size", "1",
                       "from-deactivated"], demo, check=False)
    assert refused.returncode != 0
    assert f"Image {image_id} is not active" in refused.stdout + refused.stderr

    run_cli(["glance", "image-reactivate", image_id], demo)
    demo_api.wait_image(image_id, "active")
    run_cli(["glance", "image-download", "--file", str(tmp_path / "out"), image_id], demo)
    assert (tmp_path / "out").read_bytes() == data.read_bytes()
    run_cli(["glance", "image-deactivate", image_id], demo)
    demo_api.wait_image(image_id, "deactivated")
    run_cli(["openstack", "image", "set", "--activate", image_id], demo)
    demo_api.wait_image(image_id, "active")
    run_cli(["openstack", "image", "delete", image_id], demo)
