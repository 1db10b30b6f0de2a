"""Image metadata definitions with the real `glance` client against a served
cinderlite: the admin makes a namespace (`glance md-namespace-create`), fills it
(`md-object-create`, `md-property-create`, `md-tag-create`,
`md-resource-type-associate`), shows, lists and deletes it; the demo project reads
public namespaces only and may not write."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.support import LiveServer, list_rows, parse_table, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _listed(env: dict[str, str]) -> list[str]:
    rows = list_rows(run_cli(["glance", "md-namespace-list"], env).stdout)
    return [row["namespace"] for row in rows]


def test_namespace_lifecycle_with_glance(server: LiveServer) -> None:
    admin, demo = server.admin_env, server.demo_env
    name = f"CL::E2E{uuid.uuid4().hex[:6]}"
    hidden = f"{name}::Private"

    made = parse_table(
        run_cli(
            [
                "glance",
                "md-namespace-create",
                name,
                "--visibility",
                "public",
                "--display-name",
                "E2E",
                "--description",
                "made by the e2e test",
            ],
            admin,
        ).stdout
    )
    assert made["namespace"] == name
    assert made["visibility"] == "public"
    assert made["protected"] == "False"
    run_cli(["glance", "md-namespace-create", hidden], admin)

    run_cli(
        [
            "glance",
            "md-resource-type-associate",
            name,
            "--name",
            "OS::Glance::Image",
            "--prefix",
            "hw_",
        ],
        admin,
    )
    obj = parse_table(
        run_cli(
            [
                "glance",
                "md-object-create",
                name,
                "--name",
                "CPU",
                "--schema",
                json.dumps(
                    {
                        "description": "cpu",
                        "properties": {"cores": {"title": "Cores", "type": "integer"}},
                    }
                ),
            ],
            admin,
        ).stdout
    )
    assert obj["name"] == "CPU"
    assert "cores" in obj["properties"]
    prop = parse_table(
        run_cli(
            [
                "glance",
                "md-property-create",
                name,
                "--name",
                "arch",
                "--title",
                "Architecture",
                "--type",
                "string",
                "--schema",
                json.dumps({"enum": ["x86_64", "aarch64"]}),
            ],
            admin,
        ).stdout
    )
    assert prop["title"] == "Architecture"
    assert "aarch64" in prop["enum"]
    tag = parse_table(run_cli(["glance", "md-tag-create", name, "--name", "fast"], admin).stdout)
    assert tag["name"] == "fast"

    shown = parse_table(run_cli(["glance", "md-namespace-show", name], demo).stdout)
    assert shown["namespace"] == name
    assert "CPU" in shown["objects"]
    assert "arch" in shown["properties"]
    assert "fast" in shown["tags"]
    assert "OS::Glance::Image" in shown["resource_type_associations"]
    prefixed = parse_table(
        run_cli(
            ["glance", "md-namespace-show", name, "--resource-type", "OS::Glance::Image"], demo
        ).stdout
    )
    assert "hw_arch" in prefixed["properties"]

    assert name in _listed(demo)
    assert hidden not in _listed(demo)
    assert {name, hidden} <= set(_listed(admin))
    only_images = list_rows(
        run_cli(
            ["glance", "md-namespace-list", "--resource-types", "OS::Glance::Image"], admin
        ).stdout
    )
    assert name in [row["namespace"] for row in only_images]

    refused = run_cli(["glance", "md-namespace-create", f"{name}::Demo"], demo, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr + refused.stdout

    for ns in (name, hidden):
        run_cli(["glance", "md-namespace-delete", ns], admin)
    gone = run_cli(["glance", "md-namespace-show", name], admin, check=False)
    assert gone.returncode != 0
    assert "404" in gone.stderr + gone.stdout
    assert name not in _listed(admin)
