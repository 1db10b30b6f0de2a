"""Quotas with the real clients against a served cinderlite: the admin sets a
project's volume quota with `openstack quota set`, `openstack quota show` and
`cinder quota-usage` report it, `openstack limits show --absolute` reports the
limits and usage, and a create past the quota is refused with Cinder's message."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.support import Api, LiveServer, client_env, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_quota_set_show_usage_limits_and_refusal(
    server: LiveServer, tmp_path: Path
) -> None:
    admin = server.admin_env
    suffix = uuid.uuid4().hex[:8]
    project, user, password = f"quota-{suffix}", f"quota-{suffix}", "quota-secret"
    run_cli(["openstack", "project", "create", "--domain", "Default", project], admin)
    run_cli(["openstack", "user", "create", "--domain", "Default", "--project", project,
             "--password", password, user], admin)
    run_cli(["openstack", "role", "add", "--project", project, "--user", user, "member"], admin)
    openrc = {**server.demo_openrc, "OS_USERNAME": user, "OS_PASSWORD": password,
              "OS_PROJECT_NAME": project}
    env = client_env(openrc, tmp_path)
    api = Api.login(server, openrc)

    run_cli(["openstack", "quota", "set", "--volumes", "3", project], admin)
    shown = run_json(["openstack", "quota", "show", "--volume", project], admin)
    rows = shown if isinstance(shown, list) else [
        {"Resource": k, "Limit": v} for k, v in shown.items()]
    limits = {r["Resource"]: r["Limit"] for r in rows}
    assert limits["volumes"] == 3
    assert limits["gigabytes"] == 1000

    for i in range(3):
        run_cli(["openstack", "volume", "create", "--size", "1", f"q{i}"], env)
    refused = run_cli(["openstack", "volume", "create", "--size", "1", "q3"], env, check=False)
    assert refused.returncode != 0
    assert "Maximum number of volumes allowed (3) exceeded for quota 'volumes'." in (
        refused.stderr + refused.stdout)

    absolute = run_json(["openstack", "limits", "show", "--absolute"], env)
    # openstacksdk names Cinder's maxTotalVolumes, totalVolumesUsed... in snake case.
    values = {r["Name"]: r["Value"] for r in absolute}
    assert values["max_total_volumes"] == 3
    assert values["max_total_volume_gigabytes"] == 1000
    assert values["total_volumes_used"] == 3
    assert values["total_gigabytes_used"] == 3
    assert values["total_snapshots_used"] == 0

    usage = run_cli(["cinder", "quota-usage", api.project_id], env).stdout
    line = next(r for r in usage.splitlines() if r.startswith("| volumes "))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:4] == ["volumes", "3", "0", "3"]  # Type, In_use, Reserved, Limit
