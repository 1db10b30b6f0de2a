"""QoS specs with the real clients against a served cinderlite: `openstack volume
qos create/set/unset/associate/disassociate/show/list/delete`, and `cinder
qos-create/qos-list`."""

from __future__ import annotations

import pytest

from tests.e2e.support import LiveServer, list_rows, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_openstack_volume_qos_lifecycle(server: LiveServer) -> None:
    env = server.admin_env
    made = run_json(["openstack", "volume", "qos", "create", "--consumer", "front-end",
                     "--property", "read_iops_sec=2000", "e2e-qos", "-f", "json"], env)
    assert made["name"] == "e2e-qos"
    assert made["consumer"] == "front-end"
    assert "read_iops_sec" in str(made["properties"])
    run_cli(["openstack", "volume", "qos", "set", "--property", "write_iops_sec=500",
             "e2e-qos"], env)
    run_cli(["openstack", "volume", "qos", "unset", "--property", "read_iops_sec", "e2e-qos"],
            env)
    run_cli(["openstack", "volume", "type", "create", "e2e-qos-type"], env)
    run_cli(["openstack", "volume", "qos", "associate", "e2e-qos", "e2e-qos-type"], env)
    shown = run_json(["openstack", "volume", "qos", "show", "e2e-qos", "-f", "json"], env)
    assert "write_iops_sec" in str(shown["properties"])
    assert "read_iops_sec" not in str(shown["properties"])
    assert "e2e-qos-type" in str(shown["associations"])
    listed = run_json(["openstack", "volume", "qos", "list", "-f", "json"], env)
    row = next(r for r in listed if r["Name"] == "e2e-qos")
    assert row["Consumer"] == "front-end"
    assert "e2e-qos-type" in str(row["Associations"])
    # Associated: a plain delete is refused, the type keeps its spec.
    refused = run_cli(["openstack", "volume", "qos", "delete", "e2e-qos"], env, check=False)
    assert refused.returncode != 0
    run_cli(["openstack", "volume", "qos", "disassociate", "--volume-type", "e2e-qos-type",
             "e2e-qos"], env)
    shown = run_json(["openstack", "volume", "qos", "show", "e2e-qos", "-f", "json"], env)
    assert "e2e-qos-type" not in str(shown.get("associations"))
    run_cli(["openstack", "volume", "qos", "associate", "e2e-qos", "e2e-qos-type"], env)
    run_cli(["openstack", "volume", "qos", "disassociate", "--all", "e2e-qos"], env)
    run_cli(["openstack", "volume", "qos", "associate", "e2e-qos", "e2e-qos-type"], env)
    run_cli(["openstack", "volume", "qos", "delete", "--force", "e2e-qos"], env)
    gone = run_cli(["openstack", "volume", "qos", "show", "e2e-qos"], env, check=False)
    assert gone.returncode != 0
    run_cli(["openstack", "volume", "type", "delete", "e2e-qos-type"], env)


def test_cinder_qos_create_and_list(server: LiveServer) -> None:
    env = server.admin_env
    run_cli(["cinder", "qos-create", "e2e-cinder-qos", "consumer=both", "total_bytes_sec=1024"],
            env)
    rows = list_rows(run_cli(["cinder", "qos-list"], env).stdout)
    row = next(r for r in rows if r["Name"] == "e2e-cinder-qos")
    assert row["Consumer"] == "both"
    assert "total_bytes_sec" in row["specs"]
    # Not an admin: Cinder's policy refuses.
    denied = run_cli(["cinder", "qos-list"], server.demo_env, check=False)
    assert denied.returncode != 0
    run_cli(["cinder", "qos-delete", row["ID"]], env)
