"""The `openstack` client on the identity side: system-scoped tokens and the
catalog API (regions, services, endpoints), against a served cinderlite."""

from __future__ import annotations

import pytest

from tests.e2e.support import LiveServer, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def system_env(server: LiveServer) -> dict[str, str]:
    """The admin's openrc asking for the system scope instead of a project."""
    env = {k: v for k, v in server.admin_env.items()
           if k not in ("OS_PROJECT_NAME", "OS_PROJECT_ID", "OS_PROJECT_DOMAIN_NAME",
                        "OS_PROJECT_DOMAIN_ID", "OS_TENANT_NAME")}
    env["OS_SYSTEM_SCOPE"] = "all"
    return env


def test_a_system_scoped_token_for_the_bootstrapped_admin(server: LiveServer) -> None:
    token = run_json(["openstack", "token", "issue"], system_env(server))
    assert token["id"]
    # OSC prints the system scope as its one target.
    assert token["system"] == "all"
    assert "project_id" not in token


def test_system_role_assignments(server: LiveServer) -> None:
    env = server.admin_env
    listed = run_json(["openstack", "role", "assignment", "list", "--system", "all", "--names"],
                      env)
    assert any(r["Role"] == "admin" and r["User"] == "admin@Default" for r in listed), listed
    run_cli(["openstack", "role", "add", "--system", "all", "--user", "demo", "reader"], env)
    demo = {k: v for k, v in server.demo_env.items()
            if not k.startswith(("OS_PROJECT", "OS_TENANT"))}
    demo["OS_SYSTEM_SCOPE"] = "all"
    token = run_json(["openstack", "token", "issue"], demo)
    assert token["system"] == "all"
    # A system reader reads the catalog but cannot change it.
    assert run_json(["openstack", "service", "list"], demo)
    refused = run_cli(["openstack", "region", "create", "nope"], demo, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr or "not authorized" in refused.stderr
    run_cli(["openstack", "role", "remove", "--system", "all", "--user", "demo", "reader"], env)
    gone = run_cli(["openstack", "token", "issue"], demo, check=False)
    assert gone.returncode != 0


def test_catalog_api_with_the_openstack_client(server: LiveServer) -> None:
    env = server.admin_env
    services = run_json(["openstack", "service", "list"], env)
    types = {s["Type"] for s in services}
    assert {"identity", "block-storage", "volumev3", "volumev2", "image"} <= types
    endpoints = run_json(["openstack", "endpoint", "list", "--service", "image"], env)
    assert {e["Interface"] for e in endpoints} == {"public", "internal", "admin"}
    assert all(e["URL"] == server.image_url for e in endpoints)
    regions = run_json(["openstack", "region", "list"], env)
    assert [r["Region"] for r in regions] == [server.admin_openrc["OS_REGION_NAME"]]

    region = run_json(["openstack", "region", "create", "--description", "second",
                       "RegionTwo"], env)
    assert (region["region"], region["description"]) == ("RegionTwo", "second")
    service = run_json(["openstack", "service", "create", "--name", "extra", "object-store"],
                       env)
    endpoint = run_json(["openstack", "endpoint", "create", "--region", "RegionTwo",
                         service["id"], "public", "http://127.0.0.1:1/v1/AUTH_$(project_id)s"],
                        env)
    assert endpoint["region"] == "RegionTwo"
    # The next token's catalog has it, the project filled in.
    catalog = run_json(["openstack", "catalog", "show", "object-store"], env)
    assert server.admin_openrc.get("OS_PROJECT_NAME")
    assert "http://127.0.0.1:1/v1/AUTH_" in str(catalog["endpoints"])
    assert "$(project_id)s" not in str(catalog["endpoints"])
    run_cli(["openstack", "endpoint", "delete", endpoint["id"]], env)
    run_cli(["openstack", "service", "delete", service["id"]], env)
    run_cli(["openstack", "region", "delete", "RegionTwo"], env)
    assert "object-store" not in {
        s["Type"] for s in run_json(["openstack", "service", "list"], env)
    }
