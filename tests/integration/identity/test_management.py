"""Admin resources of the identity API: domains, projects, users, roles, grants, assignments."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Identity

pytestmark = pytest.mark.integration


def forbidden(op: str) -> str:
    return f"You are not authorized to perform the requested action: identity:{op}."


async def _role_id(client: httpx.AsyncClient, admin: Identity, name: str) -> str:
    resp = await client.get(f"/v3/roles?name={name}", headers=admin.headers)
    (role,) = resp.json()["roles"]
    return role["id"]


async def test_domains(identity_client: httpx.AsyncClient, admin, settings) -> None:
    resp = await identity_client.get("/v3/domains?name=Default", headers=admin.headers)
    assert resp.status_code == 200
    (domain,) = resp.json()["domains"]
    assert domain["id"] == "default"
    assert domain["enabled"] is True
    shown = await identity_client.get("/v3/domains/default", headers=admin.headers)
    self_link = shown.json()["domain"]["links"]["self"]
    assert self_link == f"{settings.identity_url()}/v3/domains/default"
    missing = await identity_client.get("/v3/domains/nope", headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Could not find domain: nope."


async def test_project_lifecycle(identity_client: httpx.AsyncClient, admin, settings) -> None:
    resp = await identity_client.post(
        "/v3/projects", json={"project": {"name": "p1", "description": "first"}},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    project = resp.json()["project"]
    assert project["name"] == "p1"
    assert project["domain_id"] == "default"
    assert project["enabled"] is True
    assert project["is_domain"] is False
    assert project["links"]["self"] == f"{settings.identity_url()}/v3/projects/{project['id']}"
    pid = project["id"]

    listed = await identity_client.get("/v3/projects?name=p1", headers=admin.headers)
    body = listed.json()
    assert [p["id"] for p in body["projects"]] == [pid]
    assert body["links"]["previous"] is None
    assert body["links"]["next"] is None
    assert body["links"]["self"].endswith("/v3/projects?name=p1")
    everything = await identity_client.get("/v3/projects?domain_id=default", headers=admin.headers)
    assert {p["name"] for p in everything.json()["projects"]} == {"admin", "demo", "p1"}

    dup = await identity_client.post(
        "/v3/projects", json={"project": {"name": "demo"}}, headers=admin.headers
    )
    assert dup.status_code == 409
    assert dup.json()["error"]["message"] == (
        "Conflict occurred attempting to store project - Duplicate entry found with name "
        "demo at domain ID default."
    )

    patched = await identity_client.patch(
        f"/v3/projects/{pid}", json={"project": {"name": "p2", "enabled": False}},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["project"]["name"] == "p2"
    assert patched.json()["project"]["enabled"] is False
    clash = await identity_client.patch(
        f"/v3/projects/{pid}", json={"project": {"name": "demo"}}, headers=admin.headers
    )
    assert clash.status_code == 409

    deleted = await identity_client.delete(f"/v3/projects/{pid}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await identity_client.get(f"/v3/projects/{pid}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"Could not find project: {pid}."
    again = await identity_client.delete(f"/v3/projects/{pid}", headers=admin.headers)
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v3/projects", b'{"project": {"name": ""}}'),
        ("POST", "/v3/projects", b'{"project": {"name": 7}}'),
        ("POST", "/v3/projects", b'{"project": {"name": "x", "enabled": "yes"}}'),
        ("POST", "/v3/projects", b'{"project": "x"}'),
        ("POST", "/v3/projects", b"nope"),
        ("POST", "/v3/users", b'{"user": {"password": "x"}}'),
        ("POST", "/v3/users", b'{"user": {"name": "u", "password": 5}}'),
        ("POST", "/v3/roles", b'{"role": {}}'),
        ("PATCH", "/v3/projects/{demo}", b'{"project": {}}'),
        ("PATCH", "/v3/projects/{demo}", b'{"project": {"domain_id": "other"}}'),
    ],
)
async def test_bad_bodies_get_400_and_change_nothing(
    identity_client: httpx.AsyncClient, admin, demo, method, path, body
) -> None:
    before = await identity_client.get("/v3/projects", headers=admin.headers)
    users_before = await identity_client.get("/v3/users", headers=admin.headers)
    resp = await identity_client.request(
        method, path.format(demo=demo.project_id), content=body, headers=admin.headers
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["title"] == "Bad Request"
    after = await identity_client.get("/v3/projects", headers=admin.headers)
    users_after = await identity_client.get("/v3/users", headers=admin.headers)
    assert after.json() == before.json()
    assert users_after.json() == users_before.json()


async def test_user_lifecycle(identity_client: httpx.AsyncClient, admin, demo) -> None:
    resp = await identity_client.post(
        "/v3/users",
        json={"user": {"name": "alice", "password": "pw1", "default_project_id": demo.project_id,
                       "enabled": True}},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    user = resp.json()["user"]
    assert user["default_project_id"] == demo.project_id
    assert user["domain_id"] == "default"
    assert user["password_expires_at"] is None
    assert "password" not in user
    assert "password_hash" not in user
    uid = user["id"]

    dup = await identity_client.post(
        "/v3/users", json={"user": {"name": "alice"}}, headers=admin.headers
    )
    assert dup.status_code == 409
    assert "Duplicate entry found with name alice at domain ID default." in (
        dup.json()["error"]["message"]
    )
    bad_project = await identity_client.post(
        "/v3/users", json={"user": {"name": "bob", "default_project_id": "nope"}},
        headers=admin.headers,
    )
    assert bad_project.status_code == 404

    listed = await identity_client.get("/v3/users?name=alice", headers=admin.headers)
    assert [u["id"] for u in listed.json()["users"]] == [uid]

    # Without a role the user may authenticate unscoped but not on the project.
    auth = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "alice", "domain": {"id": "default"}, "password": "pw1"}}},
        "scope": {"project": {"id": demo.project_id}}}}
    assert (await identity_client.post("/v3/auth/tokens", json=auth)).status_code == 401

    member = await _role_id(identity_client, admin, "member")
    grant_url = f"/v3/projects/{demo.project_id}/users/{uid}/roles/{member}"
    assert (await identity_client.head(grant_url, headers=admin.headers)).status_code == 404
    assert (await identity_client.put(grant_url, headers=admin.headers)).status_code == 204
    assert (await identity_client.put(grant_url, headers=admin.headers)).status_code == 204
    assert (await identity_client.head(grant_url, headers=admin.headers)).status_code == 204
    assert (await identity_client.get(grant_url, headers=admin.headers)).status_code == 204
    roles = await identity_client.get(
        f"/v3/projects/{demo.project_id}/users/{uid}/roles", headers=admin.headers
    )
    assert [r["name"] for r in roles.json()["roles"]] == ["member"]
    login = await identity_client.post("/v3/auth/tokens", json=auth)
    assert login.status_code == 201
    alice_token = login.headers["X-Subject-Token"]
    alice = {"X-Auth-Token": alice_token}

    # A user may read itself and its projects, not others.
    assert (await identity_client.get(f"/v3/users/{uid}", headers=alice)).status_code == 200
    mine = await identity_client.get(f"/v3/users/{uid}/projects", headers=alice)
    assert [p["id"] for p in mine.json()["projects"]] == [demo.project_id]
    other = await identity_client.get(f"/v3/users/{admin.caller.user_id}", headers=alice)
    assert other.status_code == 403
    assert other.json()["error"]["message"] == forbidden("get_user")

    # Changing the password revokes the user's tokens; the new password works.
    patched = await identity_client.patch(
        f"/v3/users/{uid}", json={"user": {"password": "pw2"}}, headers=admin.headers
    )
    assert patched.status_code == 200
    assert (await identity_client.get(f"/v3/users/{uid}", headers=alice)).status_code == 401
    assert (await identity_client.post("/v3/auth/tokens", json=auth)).status_code == 401
    auth["auth"]["identity"]["password"]["user"]["password"] = "pw2"
    relogin = await identity_client.post("/v3/auth/tokens", json=auth)
    assert relogin.status_code == 201
    alice = {"X-Auth-Token": relogin.headers["X-Subject-Token"]}

    # Self-service change needs the original password.
    wrong = await identity_client.post(
        f"/v3/users/{uid}/password",
        json={"user": {"password": "pw3", "original_password": "bad"}}, headers=alice,
    )
    assert wrong.status_code == 401
    ok = await identity_client.post(
        f"/v3/users/{uid}/password",
        json={"user": {"password": "pw3", "original_password": "pw2"}}, headers=alice,
    )
    assert ok.status_code == 204

    assert (await identity_client.delete(grant_url, headers=admin.headers)).status_code == 204
    assert (await identity_client.delete(grant_url, headers=admin.headers)).status_code == 404
    deleted = await identity_client.delete(f"/v3/users/{uid}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await identity_client.get(f"/v3/users/{uid}", headers=admin.headers)
    assert gone.json()["error"]["message"] == f"Could not find user: {uid}."


async def test_roles(identity_client: httpx.AsyncClient, admin) -> None:
    listed = await identity_client.get("/v3/roles", headers=admin.headers)
    assert {r["name"] for r in listed.json()["roles"]} == {"admin", "member", "reader"}
    created = await identity_client.post(
        "/v3/roles", json={"role": {"name": "auditor"}}, headers=admin.headers
    )
    assert created.status_code == 201
    rid = created.json()["role"]["id"]
    shown = await identity_client.get(f"/v3/roles/{rid}", headers=admin.headers)
    assert shown.json()["role"]["name"] == "auditor"
    dup = await identity_client.post(
        "/v3/roles", json={"role": {"name": "auditor"}}, headers=admin.headers
    )
    assert dup.status_code == 409
    assert (await identity_client.delete(f"/v3/roles/{rid}", headers=admin.headers)).status_code \
        == 204
    assert (await identity_client.get(f"/v3/roles/{rid}", headers=admin.headers)).status_code \
        == 404


async def test_grant_with_unknown_parts_is_404(
    identity_client: httpx.AsyncClient, admin, demo
) -> None:
    member = await _role_id(identity_client, admin, "member")
    uid = demo.caller.user_id
    for url, kind in [
        (f"/v3/projects/nope/users/{uid}/roles/{member}", "project"),
        (f"/v3/projects/{demo.project_id}/users/nope/roles/{member}", "user"),
        (f"/v3/projects/{demo.project_id}/users/{uid}/roles/nope", "role"),
    ]:
        resp = await identity_client.put(url, headers=admin.headers)
        assert resp.status_code == 404
        assert resp.json()["error"]["message"] == f"Could not find {kind}: nope."


async def test_role_assignments(identity_client: httpx.AsyncClient, admin, demo) -> None:
    resp = await identity_client.get(
        f"/v3/role_assignments?user.id={demo.caller.user_id}"
        f"&scope.project.id={demo.project_id}&include_names=True",
        headers=admin.headers,
    )
    assert resp.status_code == 200
    items = resp.json()["role_assignments"]
    assert sorted(a["role"]["name"] for a in items) == ["member", "reader"]
    for a in items:
        assert a["user"] == {"id": demo.caller.user_id, "name": "demo",
                             "domain": {"id": "default", "name": "Default"}}
        assert a["scope"]["project"]["name"] == "demo"
        assert a["links"]["assignment"].endswith(f"/roles/{a['role']['id']}")
    reader = await _role_id(identity_client, admin, "reader")
    by_role = await identity_client.get(
        f"/v3/role_assignments?role.id={reader}&effective", headers=admin.headers
    )
    assert {a["user"]["id"] for a in by_role.json()["role_assignments"]} == {
        admin.caller.user_id, demo.caller.user_id}
    assert "name" not in by_role.json()["role_assignments"][0]["user"]
    groups = await identity_client.get("/v3/role_assignments?group.id=x", headers=admin.headers)
    assert groups.json()["role_assignments"] == []


@pytest.mark.parametrize(
    ("method", "path", "op"),
    [
        ("GET", "/v3/projects", "list_projects"),
        ("POST", "/v3/projects", "create_project"),
        ("GET", "/v3/users", "list_users"),
        ("POST", "/v3/users", "create_user"),
        ("GET", "/v3/roles", "list_roles"),
        ("GET", "/v3/domains", "list_domains"),
        ("GET", "/v3/role_assignments", "list_role_assignments"),
        ("DELETE", "/v3/projects/{admin_project}", "delete_project"),
        ("GET", "/v3/projects/{admin_project}", "get_project"),
    ],
)
async def test_non_admin_is_forbidden(
    identity_client: httpx.AsyncClient, admin, demo, method, path, op
) -> None:
    resp = await identity_client.request(
        method, path.format(admin_project=admin.project_id), headers=demo.headers,
        json={"project": {"name": "x"}, "user": {"name": "x"}},
    )
    assert resp.status_code == 403
    assert resp.json() == {"error": {"code": 403, "title": "Forbidden", "message": forbidden(op)}}


async def test_missing_or_bad_token_is_401(identity_client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Auth-Token": "bogus"}):
        resp = await identity_client.get("/v3/projects", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["title"] == "Unauthorized"


async def test_demo_may_show_own_project(identity_client: httpx.AsyncClient, demo) -> None:
    resp = await identity_client.get(f"/v3/projects/{demo.project_id}", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.json()["project"]["name"] == "demo"


async def test_deleting_project_invalidates_its_tokens(
    identity_client: httpx.AsyncClient, rt, admin, demo
) -> None:
    await rt.validator.validate(demo.token)
    resp = await identity_client.delete(f"/v3/projects/{demo.project_id}", headers=admin.headers)
    assert resp.status_code == 204
    check = await identity_client.get("/v3/auth/projects", headers=demo.headers)
    assert check.status_code == 401


async def test_unknown_route_and_method(identity_client: httpx.AsyncClient, admin) -> None:
    resp = await identity_client.get("/v3/nothing", headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == 404
    resp = await identity_client.put("/v3/projects", headers=admin.headers)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == 405


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v3/projects", b'{"project": {"name": "a\\u0000b"}}'),
        ("GET", "/v3/projects?name=a%00b", None),
        ("GET", "/v3/users/a%00b", None),
        ("POST", "/v3/auth/tokens", b'{"auth": {"identity": {"methods": ["password"], '
         b'"password": {"user": {"id": "\\u0000", "password": "x"}}}}}'),
    ],
)
async def test_nul_characters_are_bad_input(
    identity_client: httpx.AsyncClient, admin, method, path, body
) -> None:
    resp = await identity_client.request(method, path, content=body, headers=admin.headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == 400
