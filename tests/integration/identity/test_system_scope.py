"""Keystone's system scope: system role grants, system-scoped tokens, and what such a
token may do in the volume and image APIs (Cinder's and Glance's project checks)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from cinderlite.db import migrate
from tests.conftest import make_user

pytestmark = pytest.mark.integration

JSON = {"Accept": "application/json"}


def system_auth(name: str, password: str) -> dict[str, object]:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}},
        "scope": {"system": {"all": True}},
    }}


async def system_token(identity_client: httpx.AsyncClient, name: str, password: str
                       ) -> httpx.Response:
    return await identity_client.post("/v3/auth/tokens", json=system_auth(name, password))


async def role_id(identity_client, admin, name: str) -> str:  # type: ignore[no-untyped-def]
    resp = await identity_client.get(f"/v3/roles?name={name}", headers=admin.headers)
    return str(resp.json()["roles"][0]["id"])


async def test_the_bootstrapped_admin_gets_a_system_token(rt, identity_client) -> None:  # type: ignore[no-untyped-def]
    resp = await system_token(identity_client, "admin", rt.settings.admin_password)
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["system"] == {"all": True}
    assert "project" not in token
    assert token["expires_at"].endswith("Z")
    # admin on the system implies member and reader there.
    assert sorted(r["name"] for r in token["roles"]) == ["admin", "member", "reader"]
    types = {entry["type"] for entry in token["catalog"]}
    # Project URLs have nothing to fill `$(project_id)s` with: left out, as Keystone does.
    assert {"identity", "image"} <= types
    assert "block-storage" not in types
    subject = resp.headers["X-Subject-Token"]
    shown = await identity_client.get("/v3/auth/tokens",
                                      headers={"X-Auth-Token": subject, "X-Subject-Token": subject})
    assert shown.status_code == 200, shown.text
    assert shown.json()["token"]["system"] == {"all": True}


async def test_no_system_role_no_system_token(rt, identity_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await system_token(identity_client, "demo", rt.settings.demo_password)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["message"].startswith("User ")
    assert resp.json()["error"]["message"].endswith(" has no access to the system")


async def test_one_scope_at_a_time(rt, identity_client) -> None:  # type: ignore[no-untyped-def]
    body = system_auth("admin", rt.settings.admin_password)
    body["auth"]["scope"]["project"] = {"name": "admin", "domain": {"id": "default"}}  # type: ignore[index]
    resp = await identity_client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 400, resp.text


async def test_system_grants_api_and_revocation(rt, identity_client, admin) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(rt, name="operator", project="ops", roles=("member",),
                           password="op-secret")
    reader = await role_id(identity_client, admin, "reader")
    path = f"/v3/system/users/{user.caller.user_id}/roles/{reader}"
    assert (await identity_client.get(path, headers=admin.headers)).status_code == 404
    # Only admins grant.
    resp = await identity_client.put(path, headers=user.headers)
    assert resp.status_code == 403, resp.text
    assert (await identity_client.put(path, headers=admin.headers)).status_code == 204
    assert (await identity_client.put(path, headers=admin.headers)).status_code == 204
    assert (await identity_client.head(path, headers=admin.headers)).status_code == 204
    listed = await identity_client.get(f"/v3/system/users/{user.caller.user_id}/roles",
                                       headers=admin.headers)
    assert [r["name"] for r in listed.json()["roles"]] == ["reader"]
    assignments = await identity_client.get(
        f"/v3/role_assignments?scope.system=all&user.id={user.caller.user_id}",
        headers=admin.headers)
    (entry,) = assignments.json()["role_assignments"]
    assert entry["scope"] == {"system": {"all": True}}
    assert entry["links"]["assignment"].endswith(path)

    resp = await system_token(identity_client, "operator", "op-secret")
    assert resp.status_code == 201, resp.text
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["reader"]
    token = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
    # A system reader reads the catalog's services but writes nothing.
    assert (await identity_client.get("/v3/services", headers=token)).status_code == 200
    resp = await identity_client.post("/v3/services", json={"service": {"type": "x"}},
                                      headers=token)
    assert resp.status_code == 403, resp.text

    assert (await identity_client.delete(path, headers=admin.headers)).status_code == 204
    # The grant gone, the system token is gone with it.
    assert (await identity_client.get("/v3/services", headers=token)).status_code == 401
    resp = await identity_client.delete(path, headers=admin.headers)
    assert resp.status_code == 404
    assert "system: system." in resp.json()["error"]["message"]


async def test_a_system_admin_in_the_volume_and_image_apis(
    rt, identity_client, volume_client, image_client, demo,
) -> None:  # type: ignore[no-untyped-def]
    resp = await system_token(identity_client, "admin", rt.settings.admin_password)
    system = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
    made = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1}}, headers=demo.headers)
    vid = made.json()["volume"]["id"]
    # Cinder: a project URL that is not the token's project is a malformed URL.
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes", headers=system)
    assert resp.status_code == 400, resp.text
    # Project-less URLs: admin APIs work; nothing is made without a project to own it.
    listed = await volume_client.get("/v3/volumes/detail?all_tenants=1", headers=system)
    assert listed.status_code == 200, listed.text
    assert vid in [v["id"] for v in listed.json()["volumes"]]
    resp = await volume_client.get(f"/v3/volumes/{vid}", headers=system)
    assert resp.status_code == 200, resp.text
    resp = await volume_client.post("/v3/volumes", json={"volume": {"size": 1}}, headers=system)
    assert resp.status_code == 403, resp.text
    resp = await volume_client.post(
        f"/v3/volumes/{vid}/action",
        json={"os-volume_upload_image": {"image_name": "x"}}, headers=system)
    assert resp.status_code == 403, resp.text

    own = await image_client.post("/v2/images", json={"name": "p"}, headers=demo.headers)
    listed = await image_client.get("/v2/images", headers={**system, **JSON})
    assert own.json()["id"] in [i["id"] for i in listed.json()["images"]]
    resp = await image_client.post("/v2/images", json={"name": "s"}, headers={**system, **JSON})
    assert resp.status_code == 403, resp.text
    resp = await image_client.post("/v2/images", json={"name": "s", "owner": demo.project_id},
                                   headers={**system, **JSON})
    assert resp.status_code == 201, resp.text


async def test_an_older_database_gives_the_admin_the_system_role(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await migrate.upgrade(url, "0003")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("INSERT INTO domains (id, name, description, enabled) "
                     "VALUES ('default', 'Default', '', 1)")
        conn.executemany("INSERT INTO roles (id, name, description) VALUES (?, ?, '')",
                         [("r-a", "admin"), ("r-m", "member")])
        conn.execute("INSERT INTO users (id, name, domain_id, password_hash, description, "
                     "enabled, created_at) VALUES ('u-1', 'admin', 'default', 'x', '', 1, "
                     "'2026-01-01 00:00:00')")
    await migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        rows = list(conn.execute("SELECT user_id, role_id FROM system_assignments"))
        system_column = list(conn.execute("SELECT system FROM tokens"))
    assert rows == [("u-1", "r-a")]
    assert system_column == []


async def test_a_system_reader_reads_identity_but_writes_nothing(
    rt, identity_client, admin,
) -> None:  # type: ignore[no-untyped-def]
    """Keystone's defaults give identity reads to admins and system readers."""
    user = await make_user(rt, name="auditor", project="audit", roles=("member",),
                           password="au-secret")
    reader = await role_id(identity_client, admin, "reader")
    path = f"/v3/system/users/{user.caller.user_id}/roles/{reader}"
    assert (await identity_client.put(path, headers=admin.headers)).status_code == 204
    resp = await system_token(identity_client, "auditor", "au-secret")
    token = {"X-Auth-Token": resp.headers["X-Subject-Token"]}
    for read in ("/v3/users", "/v3/projects", "/v3/roles", f"/v3/roles/{reader}",
                 "/v3/role_assignments", "/v3/role_inferences", "/v3/domains"):
        resp = await identity_client.get(read, headers=token)
        assert resp.status_code == 200, (read, resp.text)
    resp = await identity_client.post("/v3/roles", json={"role": {"name": "x"}}, headers=token)
    assert resp.status_code == 403, resp.text
    # Project-scoped, the same user (a member) reads none of it.
    resp = await identity_client.get("/v3/users", headers=user.headers)
    assert resp.status_code == 403, resp.text
