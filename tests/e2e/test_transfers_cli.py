"""Volume transfers with the real clients against a served cinderlite: demo offers a
volume with `openstack volume transfer request create` (and `cinder transfer-create`),
a member of another project takes it with `... accept` (`cinder transfer-accept`);
ownership checked through the API, the volume's bytes checked untouched on disk and
read back by the new owner through an upload to an image."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    client_env,
    file_digest,
    run_cli,
    run_json,
    write_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def taker(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str],
                                                                                   Api]:
    """A member of a project of its own, made with the admin's `openstack` commands:
    its client environment and its API session."""
    admin = server.admin_env
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"taker-{suffix}", f"taker-{suffix}", "taker-secret"
    run_cli(["openstack", "project", "create", "--domain", "Default", project], admin)
    run_cli(["openstack", "user", "create", "--domain", "Default", "--project", project,
             "--password", password, user], admin)
    run_cli(["openstack", "role", "add", "--project", project, "--user", user, "member"], admin)
    openrc = {**server.demo_openrc, "OS_USERNAME": user, "OS_PASSWORD": password,
              "OS_PROJECT_NAME": project}
    home = tmp_path_factory.mktemp("taker-home")
    return client_env(openrc, Path(home)), Api.login(server, openrc)


def _owner(api: Api, volume_id: str) -> tuple[str, str]:
    vol = api.volume(volume_id)
    assert vol is not None
    return vol["os-vol-tenant-attr:tenant_id"], vol["user_id"]


def _user_id(api: Api) -> str:
    resp = httpx.get(f"{api.server.identity_url}/v3/auth/tokens",
                     headers={**api.headers, "X-Subject-Token": api.token}, timeout=10,
                     trust_env=False)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"]["user"]["id"])


def test_openstack_transfer_request_create_list_show_accept_delete(
    server: LiveServer, demo_api: Api, taker: tuple[dict[str, str], Api]
) -> None:
    env = server.demo_env
    taker_env, taker_api = taker
    vol = run_json(["openstack", "volume", "create", "--size", "1", "gift"], env)
    demo_api.wait_volume(vol["id"], "available")
    path = server.volume_file(vol["id"])
    write_at(path, 7 << 20, os.urandom(1 << 20))
    write_at(path, 800 << 20, os.urandom(256 << 10))
    before = file_digest(path, "sha256")

    made = run_json(["openstack", "volume", "transfer", "request", "create", "--name", "t1",
                     vol["id"]], env)
    assert made["volume_id"] == vol["id"]
    assert made["name"] == "t1"
    assert len(made["auth_key"]) == 16
    assert demo_api.wait_volume(vol["id"], "awaiting-transfer")
    listed = run_json(["openstack", "volume", "transfer", "request", "list"], env)
    assert [t["ID"] for t in listed] == [made["id"]]
    shown = run_json(["openstack", "volume", "transfer", "request", "show", made["id"]], env)
    assert shown["volume_id"] == vol["id"]
    assert "auth_key" not in shown
    # The other project does not see the offer.
    assert run_json(["openstack", "volume", "transfer", "request", "list"], taker_env) == []

    # A wrong key is refused with Cinder's message; nothing changes.
    wrong = run_cli(["openstack", "volume", "transfer", "request", "accept", "--auth-key",
                     "0123456789abcdef", made["id"]], taker_env, check=False)
    assert wrong.returncode != 0
    assert "Invalid auth key" in wrong.stdout + wrong.stderr
    assert _owner(demo_api, vol["id"])[0] == demo_api.project_id

    accepted = run_json(["openstack", "volume", "transfer", "request", "accept", "--auth-key",
                         made["auth_key"], made["id"]], taker_env)
    assert accepted["volume_id"] == vol["id"]
    taker_api.wait_volume(vol["id"], "available")
    assert _owner(taker_api, vol["id"]) == (taker_api.project_id, _user_id(taker_api))
    assert demo_api.volume(vol["id"]) is None
    assert file_digest(path, "sha256") == before
    assert run_json(["openstack", "volume", "transfer", "request", "list"], env) == []

    # The new owner reads the volume: an upload to an image holds the same bytes.
    up = run_json(["openstack", "image", "create", "--volume", vol["id"], "--disk-format",
                   "raw", "--container-format", "bare", "taken"], taker_env)
    image_id = up.get("image_id") or up.get("id")
    taker_api.wait_image(image_id)
    data = httpx.get(f"{server.image_url}/v2/images/{image_id}/file", headers=taker_api.headers,
                     timeout=120, trust_env=False)
    assert data.status_code == 200
    assert hashlib.sha256(data.content).hexdigest() == before

    # A second offer, withdrawn with delete: the volume is the taker's again, available.
    taker_api.wait_volume(vol["id"], "available")
    again = run_json(["openstack", "volume", "transfer", "request", "create", vol["id"]],
                     taker_env)
    taker_api.wait_volume(vol["id"], "awaiting-transfer")
    run_cli(["openstack", "volume", "transfer", "request", "delete", again["id"]], taker_env)
    taker_api.wait_volume(vol["id"], "available")
    assert run_json(["openstack", "volume", "transfer", "request", "list"], taker_env) == []
    run_cli(["openstack", "volume", "delete", vol["id"]], taker_env)
    taker_api.wait_volume_gone(vol["id"])


def _field(out: str, name: str) -> str:
    return next(line.split("|")[2].strip() for line in out.splitlines()
                if line.startswith(f"| {name} "))


def test_cinder_transfer_create_and_accept(
    server: LiveServer, demo_api: Api, taker: tuple[dict[str, str], Api]
) -> None:
    env = server.demo_env
    taker_env, taker_api = taker
    out = run_cli(["cinder", "create", "--name", "cgift", "1"], env).stdout
    volume_id = _field(out, "id")
    demo_api.wait_volume(volume_id, "available")
    path = server.volume_file(volume_id)
    write_at(path, 1 << 20, os.urandom(1 << 20))
    before = file_digest(path, "sha256")
    snap = run_json(["openstack", "volume", "snapshot", "create", "--volume", volume_id,
                     "csnap"], env)

    def snapshot_status(api: Api) -> int:
        resp = httpx.get(f"{server.volume_url}/v3/{api.project_id}/snapshots/{snap['id']}",
                         headers=api.headers, timeout=10, trust_env=False)
        if resp.status_code == 200 and resp.json()["snapshot"]["status"] != "available":
            return 0
        return resp.status_code

    from tests.e2e.support import wait_until

    wait_until(lambda: snapshot_status(demo_api) == 200, timeout=60, what="snapshot available")
    out = run_cli(["cinder", "transfer-create", "--name", "ct", volume_id], env).stdout
    transfer_id, auth_key = _field(out, "id"), _field(out, "auth_key")
    assert "awaiting-transfer" in run_cli(["cinder", "show", volume_id], env).stdout
    assert transfer_id in run_cli(["cinder", "transfer-list"], env).stdout
    out = run_cli(["cinder", "transfer-accept", transfer_id, auth_key], taker_env).stdout
    assert _field(out, "volume_id") == volume_id
    taker_api.wait_volume(volume_id, "available")
    assert _owner(taker_api, volume_id)[0] == taker_api.project_id
    # The snapshot moved with the volume.
    assert snapshot_status(taker_api) == 200
    assert snapshot_status(demo_api) == 404
    assert file_digest(path, "sha256") == before
    run_cli(["cinder", "delete", "--cascade", volume_id], taker_env)
    taker_api.wait_volume_gone(volume_id)
