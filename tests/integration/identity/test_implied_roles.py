"""Keystone's implied roles: the API, the defaults (admin -> member -> reader), and
tokens and policies that see the effective roles."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from cinderlite.db import migrate
from tests.conftest import make_user
from tests.integration.identity.test_cli_identity import Server, server  # noqa: F401

pytestmark = pytest.mark.integration


async def role_id(identity_client, admin, name: str) -> str:  # type: ignore[no-untyped-def]
    resp = await identity_client.get(f"/v3/roles?name={name}", headers=admin.headers)
    return str(resp.json()["roles"][0]["id"])


async def test_a_member_only_user_works_with_its_volumes_and_a_reader_only_reads(
    rt, volume_client,
) -> None:  # type: ignore[no-untyped-def]
    member = await make_user(rt, name="just-member", project="team", roles=("member",))
    reader = await make_user(rt, name="just-reader", project="team", roles=("reader",))
    assert member.caller.roles == {"member", "reader"}
    base = f"/v3/{member.project_id}/volumes"
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=member.headers)
    assert resp.status_code == 202, resp.text
    vid = resp.json()["volume"]["id"]
    for who in (member, reader):
        shown = await volume_client.get(f"{base}/{vid}", headers=who.headers)
        assert shown.status_code == 200, shown.text
        listed = await volume_client.get(f"{base}/detail", headers=who.headers)
        assert [v["id"] for v in listed.json()["volumes"]] == [vid]
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=reader.headers)
    assert resp.status_code == 403, resp.text
    resp = await volume_client.delete(f"{base}/{vid}", headers=member.headers)
    assert resp.status_code == 202, resp.text


async def test_tokens_list_the_implied_roles(identity_client, rt) -> None:  # type: ignore[no-untyped-def]
    await make_user(rt, name="m2", project="p2", roles=("member",), password="pw")
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "m2", "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"project": {"name": "p2", "domain": {"id": "default"}}}}}
    resp = await identity_client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    assert sorted(r["name"] for r in resp.json()["token"]["roles"]) == ["member", "reader"]


async def test_the_implied_role_api(identity_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    h = admin.headers
    member = await role_id(identity_client, admin, "member")
    reader = await role_id(identity_client, admin, "reader")
    admin_role = await role_id(identity_client, admin, "admin")
    resp = await identity_client.get("/v3/role_inferences", headers=h)
    assert resp.status_code == 200
    rules = {(i["prior_role"]["name"], tuple(r["name"] for r in i["implies"]))
             for i in resp.json()["role_inferences"]}
    assert rules == {("admin", ("member",)), ("member", ("reader",))}

    resp = await identity_client.post("/v3/roles", json={"role": {"name": "auditor"}}, headers=h)
    auditor = resp.json()["role"]["id"]
    path = f"/v3/roles/{auditor}/implies/{reader}"
    resp = await identity_client.put(path, headers=h)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["role_inference"]["prior_role"]["name"] == "auditor"
    assert body["role_inference"]["implies"]["id"] == reader
    assert body["links"]["self"].endswith(path)
    resp = await identity_client.put(path, headers=h)
    assert resp.status_code == 409
    assert (await identity_client.get(path, headers=h)).status_code == 200
    assert (await identity_client.head(path, headers=h)).status_code == 204
    resp = await identity_client.get(f"/v3/roles/{auditor}/implies", headers=h)
    assert [r["id"] for r in resp.json()["role_inference"]["implies"]] == [reader]
    # Keystone's rules: admin may not be implied; unknown roles are 404s.
    resp = await identity_client.put(f"/v3/roles/{member}/implies/{admin_role}", headers=h)
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == f"{admin_role} cannot be an implied roles."
    missing = uuid.uuid4().hex
    resp = await identity_client.put(f"/v3/roles/{missing}/implies/{reader}", headers=h)
    assert resp.status_code == 404
    # Only admins.
    assert (await identity_client.put(f"/v3/roles/{reader}/implies/{auditor}",
                                      headers=demo.headers)).status_code == 403
    assert (await identity_client.get("/v3/role_inferences",
                                      headers=demo.headers)).status_code == 403
    assert (await identity_client.delete(path, headers=h)).status_code == 204
    resp = await identity_client.get(path, headers=h)
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == f"{auditor} does not imply {reader}."


async def test_effective_role_assignments_include_implied_roles(identity_client, admin, rt) -> None:  # type: ignore[no-untyped-def]
    who = await make_user(rt, name="eff", project="effp", roles=("member",))
    q = f"/v3/role_assignments?user.id={who.caller.user_id}&include_names"
    direct = await identity_client.get(q, headers=admin.headers)
    assert [a["role"]["name"] for a in direct.json()["role_assignments"]] == ["member"]
    effective = await identity_client.get(q + "&effective", headers=admin.headers)
    found = {a["role"]["name"]: a for a in effective.json()["role_assignments"]}
    assert set(found) == {"member", "reader"}
    assert "prior_role" in found["reader"]["links"]


async def test_a_database_made_before_implied_roles_gets_the_defaults(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade(url, "0002")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.executemany("INSERT INTO roles (id, name, description) VALUES (?, ?, '')",
                         [("r-a", "admin"), ("r-m", "member"), ("r-r", "reader")])
    await migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        rows = sorted(conn.execute("SELECT prior_role_id, implied_role_id FROM implied_roles"))
    assert rows == [("r-a", "r-m"), ("r-m", "r-r")]


def test_implied_role_commands_with_the_real_openstack_cli(server: Server) -> None:  # noqa: F811
    server.openstack("role", "create", "observer")
    server.openstack("implied", "role", "create", "observer", "--implied-role", "reader")
    listed = server.openstack_json("implied", "role", "list")
    pairs = {(r["Prior Role Name"], r["Implied Role Name"]) for r in listed}
    assert pairs >= {("observer", "reader"), ("admin", "member"), ("member", "reader")}
    server.openstack("implied", "role", "delete", "observer", "--implied-role", "reader")
    listed = server.openstack_json("implied", "role", "list")
    assert ("observer", "reader") not in {
        (r["Prior Role Name"], r["Implied Role Name"]) for r in listed
    }
