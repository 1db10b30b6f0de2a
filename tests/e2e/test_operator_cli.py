"""The operator's discovery flows with the real clients against a served cinderlite:
`openstack availability zone list --volume`, `openstack volume service list/set`,
`cinder get-pools --detail`, `openstack extension list --volume`, `cinder summary`.

The server is shared by the session: a test that disables the volume service
enables it again before it ends.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.support import Api, LiveServer, parse_table, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GiB = 1 << 30


def _volume_service(env: dict[str, str]) -> dict[str, str]:
    rows = run_json(["openstack", "volume", "service", "list", "--long"], env)
    [row] = [r for r in rows if r["Binary"] == "cinder-volume"]
    return row  # type: ignore[no-any-return]


def test_availability_zone_list_volume(server: LiveServer) -> None:
    zones = run_json(["openstack", "availability", "zone", "list", "--volume"], server.admin_env)
    assert zones == [{"Zone Name": "nova", "Zone Status": "available"}]


def test_volume_service_list(server: LiveServer) -> None:
    rows = run_json(["openstack", "volume", "service", "list"], server.admin_env)
    assert {r["Binary"] for r in rows} == {"cinder-volume", "cinder-scheduler", "cinder-backup"}
    hostname = os.uname().nodename
    for r in rows:
        assert (r["Zone"], r["Status"], r["State"]) == ("nova", "enabled", "up")
        assert r["Host"] == (f"{hostname}@file" if r["Binary"] == "cinder-volume" else hostname)
        assert r["Updated At"]
    only = run_json(["openstack", "volume", "service", "list", "--service", "cinder-backup"],
                    server.admin_env)
    assert [r["Binary"] for r in only] == ["cinder-backup"]
    # Not an admin: Cinder's 403.
    denied = run_cli(["openstack", "volume", "service", "list"], server.demo_env, check=False)
    assert denied.returncode != 0
    assert "volume_extension:services:index" in denied.stderr


def test_volume_service_set_disable_with_reason(server: LiveServer, demo_api: Api) -> None:
    admin = server.admin_env
    host = _volume_service(admin)["Host"]
    run_cli(["openstack", "volume", "service", "set", "--disable", "--disable-reason",
             "disk swap", host, "cinder-volume"], admin)
    try:
        row = _volume_service(admin)
        assert (row["Status"], row["Disabled Reason"]) == ("disabled", "disk swap")
        zones = run_json(["openstack", "availability", "zone", "list", "--volume"], admin)
        assert zones == [{"Zone Name": "nova", "Zone Status": "not available"}]
        # The scheduler finds no backend: the volume fails, with a user message.
        vol = run_json(["openstack", "volume", "create", "--size", "1", "unplaced"],
                       server.demo_env)
        shown = demo_api.volume(vol["id"])
        assert shown is not None
        assert shown["status"] == "error"
        out = run_cli(["cinder", "--os-volume-api-version", "3.3", "message-list",
                       "--resource_uuid", vol["id"]], server.demo_env).stdout
        assert "Could not find any available weighted backend." in out
        pools = run_cli(["cinder", "get-pools"], admin).stdout
        assert "@file#file" not in pools
    finally:
        run_cli(["openstack", "volume", "service", "set", "--enable", host, "cinder-volume"],
                admin)
    row = _volume_service(admin)
    assert (row["Status"], row["Disabled Reason"]) == ("enabled", None)
    run_cli(["openstack", "volume", "delete", vol["id"]], server.demo_env)
    vol = run_json(["openstack", "volume", "create", "--size", "1", "placed"], server.demo_env)
    demo_api.wait_volume(vol["id"], "available")
    run_cli(["openstack", "volume", "delete", vol["id"]], server.demo_env)


def test_cinder_get_pools_detail(server: LiveServer) -> None:
    out = run_cli(["cinder", "get-pools", "--detail"], server.admin_env).stdout
    table = parse_table(out)
    st = os.statvfs(server.volume_file("x").parent)
    assert float(table["total_capacity_gb"]) == round(st.f_blocks * st.f_frsize / GiB, 2)
    assert abs(float(table["free_capacity_gb"]) - st.f_bavail * st.f_frsize / GiB) < 0.5
    assert table["volume_backend_name"] == "file"
    assert table["storage_protocol"] == "local"
    assert table["name"].endswith("@file#file")
    assert "allocated_capacity_gb" in table
    assert table["thin_provisioning_support"] == "True"


def test_extension_list_volume(server: LiveServer) -> None:
    rows = run_json(["openstack", "extension", "list", "--volume"], server.admin_env)
    aliases = {r["Alias"] for r in rows}
    assert {"os-hosts", "os-services", "os-availability-zone", "scheduler-stats",
            "capabilities", "backups"} <= aliases
    assert "os-quota-sets" not in aliases


def test_cinder_summary(server: LiveServer, demo_api: Api) -> None:
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "2", "--property", "tier=gold",
                    "summed"], env)
    demo_api.wait_volume(vol["id"], "available")
    try:
        out = run_cli(["cinder", "--os-volume-api-version", "3.36", "summary"], env).stdout
        table = parse_table(out)
        assert int(table["total_count"]) >= 1
        assert int(table["total_size"]) >= 2
        assert "tier" in table["metadata"]
        assert "gold" in table["metadata"]
    finally:
        run_cli(["openstack", "volume", "delete", vol["id"]], env)
