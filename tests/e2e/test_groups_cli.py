"""Generic volume groups with the real clients against a served cinderlite:
`cinder group-type-create`, `group-create`, `create --group-id`,
`group-snapshot-create`, `group-create-from-src`, `group-list`, `group-delete`,
and `openstack volume group list`; bytes compared on disk."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    Api,
    LiveServer,
    list_rows,
    parse_table,
    run_cli,
    run_json,
    same_bytes,
    wait_until,
    write_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CINDER = ["cinder", "--os-volume-api-version", "3.25"]


def _get(api: Api, path: str) -> httpx.Response:
    return httpx.get(
        f"{api.server.volume_url}/v3/{api.project_id}/{path}",
        headers={**api.headers, "OpenStack-API-Version": "volume 3.25"}, timeout=10,
        trust_env=False,
    )


def _wait(api: Api, path: str, key: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        resp = _get(api, path)
        if status == "gone":
            return {"gone": True} if resp.status_code == 404 else None
        assert resp.status_code == 200, resp.text
        body = dict(resp.json()[key])
        assert not body["status"].startswith("error"), body
        return body if body["status"] == status else None

    return wait_until(probe, timeout=90, what=f"{path} {status}")


def test_cinder_groups_group_snapshots_and_groups_from_them(
    server: LiveServer, demo_api: Api
) -> None:
    admin_env, env = server.admin_env, server.demo_env
    made = list_rows(run_cli([*CINDER, "group-type-create", "e2e-gt"], admin_env).stdout)
    assert made[0]["Name"] == "e2e-gt"
    group = parse_table(run_cli(
        [*CINDER, "group-create", "--name", "g1", "e2e-gt", "__DEFAULT__"], env).stdout)
    _wait(demo_api, f"groups/{group['id']}", "group", "available")
    members = []
    for name in ("m1", "m2"):
        vol = parse_table(run_cli(
            [*CINDER, "create", "--group-id", group["id"], "--volume-type", "__DEFAULT__",
             "--name", name, "1"], env).stdout)
        demo_api.wait_volume(vol["id"], "available")
        write_at(server.volume_file(vol["id"]), 3 << 20, os.urandom(1 << 20))
        members.append(vol["id"])
    shown = parse_table(run_cli([*CINDER, "group-show", "g1"], env).stdout)
    assert shown["status"] == "available"

    gsnap = parse_table(run_cli(
        [*CINDER, "group-snapshot-create", "--name", "gs1", "g1"], env).stdout)
    _wait(demo_api, f"group_snapshots/{gsnap['id']}", "group_snapshot", "available")
    rows = list_rows(run_cli([*CINDER, "group-snapshot-list"], env).stdout)
    assert [(r["ID"], r["Status"]) for r in rows] == [(gsnap["id"], "available")]
    # The volumes change after the group snapshot: its copy has the old bytes.
    before = {v: (server.volume_file(v).read_bytes()[3 << 20:4 << 20]) for v in members}
    for v in members:
        write_at(server.volume_file(v), 3 << 20, os.urandom(1 << 20))

    copy = parse_table(run_cli(
        [*CINDER, "group-create-from-src", "--group-snapshot", "gs1", "--name", "g2"],
        env).stdout)
    _wait(demo_api, f"groups/{copy['id']}", "group", "available")
    clone = parse_table(run_cli(
        [*CINDER, "group-create-from-src", "--source-group", "g1", "--name", "g3"],
        env).stdout)
    _wait(demo_api, f"groups/{clone['id']}", "group", "available")

    listed = list_rows(run_cli([*CINDER, "group-list"], env).stdout)
    assert {r["Name"] for r in listed} == {"g1", "g2", "g3"}
    osc = run_json(["openstack", "--os-volume-api-version", "3.25", "volume", "group",
                    "list"], env)
    assert {g["Name"] for g in osc} == {"g1", "g2", "g3"}

    copied = _get(demo_api, f"groups/{copy['id']}?list_volume=True").json()["group"]["volumes"]
    assert sorted(server.volume_file(v).read_bytes()[3 << 20:4 << 20] for v in copied) == (
        sorted(before.values()))
    cloned = _get(demo_api, f"groups/{clone['id']}?list_volume=True").json()["group"][
        "volumes"]
    assert sorted(server.volume_file(v).read_bytes()[3 << 20:4 << 20] for v in cloned) == (
        sorted(server.volume_file(v).read_bytes()[3 << 20:4 << 20] for v in members))
    assert any(same_bytes(server.volume_file(c), server.volume_file(members[0]))
               for c in cloned)

    # A group with a group snapshot is kept; then everything goes.
    refused = run_cli([*CINDER, "group-delete", "--delete-volumes", "g1"], env, check=False)
    assert refused.returncode != 0
    assert "Group has existing snapshots" in refused.stdout + refused.stderr
    run_cli([*CINDER, "group-snapshot-delete", "gs1"], env)
    _wait(demo_api, f"group_snapshots/{gsnap['id']}", "group_snapshot", "gone")
    run_cli([*CINDER, "group-delete", "--delete-volumes", "g1", "g2", "g3"], env)
    for g in (group, copy, clone):
        _wait(demo_api, f"groups/{g['id']}", "group", "gone")
    for v in members:
        demo_api.wait_volume_gone(v)
    run_cli([*CINDER, "group-type-delete", "e2e-gt"], admin_env)
