"""Volume types with the real clients against a served cinderlite: `openstack
volume type create/set/unset/show/delete`, a private type given to a project
with `openstack volume type set --project`, `cinder extra-specs-list` and
`cinder retype`."""

from __future__ import annotations

import pytest

from tests.e2e.support import Api, LiveServer, list_rows, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CINDER = ["cinder", "--os-volume-api-version", "3.44"]


def test_openstack_volume_type_create_set_unset_show_delete(
    server: LiveServer, demo_api: Api
) -> None:
    admin_env = server.admin_env
    made = run_json(["openstack", "volume", "type", "create", "--description", "e2e",
                     "--property", "k1=v1", "e2e-vt", "-f", "json"], admin_env)
    assert made["name"] == "e2e-vt"
    run_cli(["openstack", "volume", "type", "set", "--property", "k2=v2",
             "--description", "changed", "e2e-vt"], admin_env)
    run_cli(["openstack", "volume", "type", "unset", "--property", "k1", "e2e-vt"], admin_env)
    shown = run_json(["openstack", "volume", "type", "show", "e2e-vt", "-f", "json"], admin_env)
    assert shown["description"] == "changed"
    assert "k2" in str(shown["properties"])
    assert "k1" not in str(shown["properties"])
    specs = list_rows(run_cli([*CINDER, "extra-specs-list"], admin_env).stdout)
    row = next(r for r in specs if r["Name"] == "e2e-vt")
    assert "k2" in row["extra_specs"]
    run_cli(["openstack", "volume", "type", "delete", "e2e-vt"], admin_env)
    gone = run_cli(["openstack", "volume", "type", "show", "e2e-vt"], admin_env, check=False)
    assert gone.returncode != 0


def test_private_type_for_a_project_and_cinder_retype(
    server: LiveServer, demo_api: Api
) -> None:
    admin_env, env = server.admin_env, server.demo_env
    run_cli(["openstack", "volume", "type", "create", "--private", "e2e-private"], admin_env)
    denied = run_cli(["openstack", "volume", "create", "--size", "1", "--type", "e2e-private",
                      "nope"], env, check=False)
    assert denied.returncode != 0
    run_cli(["openstack", "volume", "type", "set", "--project", demo_api.project_id,
             "e2e-private"], admin_env)
    vol = run_json(["openstack", "volume", "create", "--size", "1", "--type", "e2e-private",
                    "e2e-retype", "-f", "json"], env)
    demo_api.wait_volume(vol["id"], "available")
    run_cli(["openstack", "volume", "type", "create", "e2e-target"], admin_env)
    run_cli([*CINDER, "retype", "--migration-policy", "never", vol["id"], "e2e-target"], env)
    shown = demo_api.volume(vol["id"])
    assert shown is not None
    assert shown["volume_type"] == "e2e-target"
    assert shown["status"] == "available"
